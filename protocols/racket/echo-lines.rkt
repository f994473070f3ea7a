#lang racket/base
;; echo-lines.rkt -- reference stdiobridge child for the `lines` codec.
;;
;; Answers every request line with the same line (decoded as UTF-8 and
;; re-encoded), flushing after each frame; exits 0 on stdin EOF; a bad or
;; truncated frame -> reason on stderr, exit 1; SIGTERM -> exits at once.
;; Logs go to stderr only.
;;
;;   racket echo-lines.rkt [--max-frame BYTES]
;;   raco exe -o racket-lines echo-lines.rkt

(require racket/cmdline
         "lines.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

(module+ main
  (define max-frame DEFAULT-MAX-FRAME)
  (command-line
   #:program "racket-lines"
   #:once-each
   [("--max-frame") bytes "Largest accepted line, in bytes (default 64 MiB)"
                    (set! max-frame (string->number bytes))])
  (unless (exact-nonnegative-integer? max-frame)
    (eprintf "racket-lines: --max-frame needs a non-negative integer\n")
    (exit 2))

  ;; >>> YOUR LOGIC GOES HERE: turn one request (a string) into one response
  ;; (a string without LF and not ending in CR). This reference child echoes.
  ;; Write logs with eprintf (stderr), never to stdout.
  (define (handle request)
    request)

  (run-child
   "racket-lines"
   (λ ()
     (let loop ()
       (define request (read-line-frame (current-input-port) #:max-frame max-frame))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (write-line-frame (handle request) (current-output-port) #:max-frame max-frame)
         (loop))))))
