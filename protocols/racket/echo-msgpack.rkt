#lang racket/base
;; echo-msgpack.rkt -- reference stdiobridge child for the `msgpack` codec.
;;
;; Answers every request with the same value: decoded by msgpack.rkt and
;; re-encoded (smallest forms, floats as float64, map order kept), flushing
;; after each frame; exits 0 on stdin EOF; a bad or truncated frame -> reason
;; on stderr, exit 1; SIGTERM -> exits at once. Logs go to stderr only.
;;
;;   racket echo-msgpack.rkt [--max-frame BYTES]
;;   raco exe -o racket-msgpack echo-msgpack.rkt

(require racket/cmdline
         "msgpack.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

(module+ main
  (define max-frame DEFAULT-MAX-FRAME)
  (command-line
   #:program "racket-msgpack"
   #:once-each
   [("--max-frame") bytes "Largest accepted message, in bytes (default 64 MiB)"
                    (set! max-frame (string->number bytes))])
  (unless (exact-nonnegative-integer? max-frame)
    (eprintf "racket-msgpack: --max-frame needs a non-negative integer\n")
    (exit 2))

  ;; >>> YOUR LOGIC GOES HERE: turn one request into one response.
  ;; Values: 'null, #t/#f, exact integers, flonums, strings (str), byte
  ;; strings (bin), lists (array), (msgpack-map pairs) with pairs an ordered
  ;; association list (a hash table also encodes), (msgpack-ext type data).
  ;; Write logs with eprintf (stderr), never to stdout.
  (define (handle request)
    request)

  (run-child
   "racket-msgpack"
   (λ ()
     (let loop ()
       (define request (read-msgpack-frame (current-input-port) #:max-frame max-frame))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (write-msgpack-frame (handle request) (current-output-port) #:max-frame max-frame)
         (loop))))))
