#lang racket/base
;; echo-jsonl.rkt -- reference stdiobridge child for the `jsonl` codec.
;;
;; Answers every request with the same JSON value: decoded by jsonl.rkt's
;; strict reader and re-encoded by its writer (so decoding is real; object
;; key order is kept because objects are read with #:objects 'ordered).
;; Flushes after each frame; exits 0 on stdin EOF; a bad or truncated frame
;; -> reason on stderr, exit 1; SIGTERM -> exits at once. Logs go to stderr.
;;
;;   racket echo-jsonl.rkt [--max-frame BYTES]
;;   raco exe -o racket-jsonl echo-jsonl.rkt

(require racket/cmdline
         "jsonl.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

(module+ main
  (define max-frame DEFAULT-MAX-FRAME)
  (command-line
   #:program "racket-jsonl"
   #:once-each
   [("--max-frame") bytes "Largest accepted line, in bytes (default 64 MiB)"
                    (set! max-frame (string->number bytes))])
  (unless (exact-nonnegative-integer? max-frame)
    (eprintf "racket-jsonl: --max-frame needs a non-negative integer\n")
    (exit 2))

  ;; >>> YOUR LOGIC GOES HERE: turn one request into one response.
  ;; With #:objects 'ordered (below) objects arrive as (json-object fields),
  ;; fields an association list in wire order; drop that keyword to get plain
  ;; jsexprs (immutable hasheq, symbol keys). The writer accepts both, plus
  ;; lists, strings, exact integers, flonums, #t, #f and 'null.
  ;; Write logs with eprintf (stderr), never to stdout.
  (define (handle request)
    request)

  (run-child
   "racket-jsonl"
   (λ ()
     (let loop ()
       (define request (read-jsonl-frame (current-input-port)
                                         #:max-frame max-frame
                                         #:objects 'ordered))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (write-jsonl-frame (handle request) (current-output-port) #:max-frame max-frame)
         (loop))))))
