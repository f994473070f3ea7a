#lang racket/base
;; lenprefix.rkt -- the `lenprefix` codec of stdiobridge.
;;
;; A message is a byte string. A frame is the payload length as an unsigned
;; integer of `width` bytes (1, 2, 4 or 8; default 4) in `byteorder`
;; ('big or 'little; default 'big), then the payload. (Erlang's {packet, 4}.)
;; A declared length over max-frame is refused as soon as the prefix is read,
;; before any payload byte is read.
;;
;;   (read-lenprefix-frame in)        -> bytes or eof
;;   (write-lenprefix-frame bs out)   writes prefix + payload and flushes out
;;   (lenprefix-encode bs) / (lenprefix-decode frame)   in memory
;; All take #:width, #:byteorder and #:max-frame (default 64 MiB).

(require "source.rkt" "frame.rkt")

(provide read-lenprefix-frame write-lenprefix-frame
         lenprefix-encode lenprefix-decode
         (all-from-out "frame.rkt"))

(define (check-options who width byteorder max-frame)
  (unless (memv width '(1 2 4 8))
    (raise-argument-error who "(or/c 1 2 4 8)" width))
  (unless (memq byteorder '(big little))
    (raise-argument-error who "(or/c 'big 'little)" byteorder))
  (check-max-frame who max-frame))

(define (read-lenprefix-frame in
                              #:width [width 4]
                              #:byteorder [byteorder 'big]
                              #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (check-options 'read-lenprefix-frame width byteorder max-frame)
  (define prefix (read-bytes width in))
  (cond
    [(eof-object? prefix) eof]
    [(< (bytes-length prefix) width) (raise-truncated (bytes-length prefix))]
    [else
     (define n (integer-bytes->integer prefix #f (eq? byteorder 'big)))
     (when (> n max-frame) (raise-too-large n max-frame))
     (define payload (read-bytes n in))  ; (read-bytes 0 in) is #"" even at EOF
     (cond
       [(eof-object? payload) (raise-truncated width)]
       [(< (bytes-length payload) n) (raise-truncated (+ width (bytes-length payload)))]
       [else payload])]))

(define (encode-prefix who bs width byteorder max-frame)
  (check-options who width byteorder max-frame)
  (unless (bytes? bs) (raise-encode-error "lenprefix message must be bytes, got ~e" bs))
  (define n (bytes-length bs))
  (when (>= n (arithmetic-shift 1 (* 8 width)))
    (raise-encode-error "message of ~a bytes does not fit a ~a-byte length prefix" n width))
  (when (> n max-frame)
    (raise-encode-error "message of ~a bytes exceeds max-frame ~a" n max-frame))
  (integer->integer-bytes n width #f (eq? byteorder 'big)))

(define (write-lenprefix-frame bs out
                               #:width [width 4]
                               #:byteorder [byteorder 'big]
                               #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define prefix (encode-prefix 'write-lenprefix-frame bs width byteorder max-frame))
  (write-bytes prefix out)
  (write-bytes bs out)
  (flush-output out))

(define (lenprefix-encode bs
                          #:width [width 4]
                          #:byteorder [byteorder 'big]
                          #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (bytes-append (encode-prefix 'lenprefix-encode bs width byteorder max-frame) bs))

(define (lenprefix-decode frame
                          #:width [width 4]
                          #:byteorder [byteorder 'big]
                          #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define in (open-input-bytes frame))
  (define v (read-lenprefix-frame in #:width width #:byteorder byteorder #:max-frame max-frame))
  (when (eof-object? v) (raise-truncated 0))
  (unless (eof-object? (peek-byte in))
    (raise-decode-error "extra bytes after the frame"))
  v)
