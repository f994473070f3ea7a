"""stdiobridge-lsp-codec: the LSP/DAP base-protocol framing as a stdiobridge codec plugin.

Installed, it registers the codec ``lsp`` through the ``stdiobridge.codecs`` entry
point, so ``stdiobridge.Bridge(cmd, codec="lsp")`` finds it by name.
"""

from .codec import HEADER_LIMIT, LspCodec, LspDecoder

__all__ = ["HEADER_LIMIT", "LspCodec", "LspDecoder"]
