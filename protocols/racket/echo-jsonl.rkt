#lang racket/base
;; echo-jsonl.rkt -- reference stdiobridge child for the `jsonl` codec:
;; answers every request with the same JSON value, read by jsonl.rkt's strict
;; reader (objects keep their key order) and written again, flushing after
;; each frame. Exits 0 at the end of stdin; a bad or truncated frame -> a
;; reason on stderr, exit 1; SIGTERM -> exits at once. Logs go to stderr
;; only. Tagged mode (STDIOBRIDGE_TAGGED=1): each frame is [id, message] and
;; the answer is [id, answer].
;;
;;   racket echo-jsonl.rkt          raco exe -o racket-jsonl echo-jsonl.rkt

(require "jsonl.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

;; >>> YOUR LOGIC GOES HERE: turn one request into one response.
;; With #:objects 'ordered (below) objects arrive as (json-object fields),
;; fields an association list in wire order; drop that keyword to get plain
;; jsexprs (immutable hasheq, symbol keys). The writer accepts both, plus
;; lists, strings, exact integers, flonums, #t, #f and 'null.
;; Write logs with eprintf (stderr), never to stdout.
(define (handle request)
  request)

(module+ main
  (define tagged (tagged-mode?))
  (run-child
   "racket-jsonl"
   (λ ()
     (let loop ()
       (define request (read-jsonl-frame (current-input-port) #:objects 'ordered))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (define answer
           (cond
             [tagged (define-values (id message) (untag request))
                     (list id (handle message))]
             [else (handle request)]))
         (write-jsonl-frame answer (current-output-port)) ; writes and flushes
         (loop))))))
