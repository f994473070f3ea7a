#lang racket/base
;; echo-msgpack.rkt -- reference stdiobridge child for the `msgpack` codec:
;; answers every request with the same value, decoded by msgpack.rkt and
;; encoded again (smallest forms, floats as float64, map order and ext types
;; kept), flushing after each frame. Exits 0 at the end of stdin; a bad or
;; truncated frame -> a reason on stderr, exit 1; SIGTERM -> exits at once.
;; Logs go to stderr only. Tagged mode (STDIOBRIDGE_TAGGED=1): each frame is
;; [id, message] and the answer is [id, answer].
;;
;;   racket echo-msgpack.rkt        raco exe -o racket-msgpack echo-msgpack.rkt

(require "msgpack.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

;; >>> YOUR LOGIC GOES HERE: turn one request into one response.
;; Values: 'null, #t/#f, exact integers, flonums, strings (str), byte
;; strings (bin), lists (array), (msgpack-map pairs) with pairs an ordered
;; association list (a hash table also encodes), (msgpack-ext type data).
;; Write logs with eprintf (stderr), never to stdout.
(define (handle request)
  request)

(module+ main
  (define tagged (tagged-mode?))
  (run-child
   "racket-msgpack"
   (λ ()
     (let loop ()
       (define request (read-msgpack-frame (current-input-port)))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (define answer
           (cond
             [tagged (define-values (id message) (untag request))
                     (list id (handle message))]
             [else (handle request)]))
         (write-msgpack-frame answer (current-output-port)) ; writes and flushes
         (loop))))))
