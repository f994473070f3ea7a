#lang racket/base
;; echo-lines.rkt -- reference stdiobridge child for the `lines` codec:
;; answers every request line with the same line (decoded as UTF-8 and
;; encoded again), flushing after each frame. Exits 0 at the end of stdin; a
;; bad or truncated frame -> a reason on stderr, exit 1; SIGTERM -> exits at
;; once. Logs go to stderr only. Tagged mode (STDIOBRIDGE_TAGGED=1): each
;; line is "<id> <text>" and the answer is "<id> <answer>".
;;
;;   racket echo-lines.rkt          raco exe -o racket-lines echo-lines.rkt

(require "lines.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

;; >>> YOUR LOGIC GOES HERE: turn one request (a string) into one response
;; (a string without LF and not ending in CR). This reference child echoes.
;; Write logs with eprintf (stderr), never to stdout.
(define (handle request)
  request)

(module+ main
  (define tagged (tagged-mode?))
  (run-child
   "racket-lines"
   (λ ()
     (let loop ()
       (define request (read-line-frame (current-input-port)))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (define answer
           (cond
             [tagged (define-values (id text) (untag-line request))
                     (string-append (number->string id) " " (handle text))]
             [else (handle request)]))
         (write-line-frame answer (current-output-port)) ; writes and flushes
         (loop))))))
