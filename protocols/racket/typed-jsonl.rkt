#lang racket/base
;; typed-jsonl.rkt -- a small typed `jsonl` service, the shape of a real
;; child: each request is checked into a Racket struct and answered with a
;; typed result.
;;
;;   {"op":"add","a":2,"b":3}     -> {"result":5}
;;   {"op":"upper","text":"hi"}   -> {"result":"HI"}
;;   {"op":"nope"}                -> {"error":"unknown op \"nope\": want add or upper"}
;;
;; A request it cannot serve gets an "error" answer and the child carries on;
;; only a broken frame is fatal. Tagged (STDIOBRIDGE_TAGGED=1): [id, ...].

(require "jsonl.rkt")

(module test racket/base) ; end-to-end tests: tests/test_reference_children.py

(struct add-request (a b))
(struct upper-request (text))

;; A request (a jsexpr) as one of the structs; raises a string saying what is wrong.
(define (decode request)
  (define (field key ok? what)
    (define v (and (hash? request) (hash-ref request key #f)))
    (if (ok? v) v (raise (format "bad request: ~a must be ~a" key what))))
  (define op (field 'op string? "a string"))
  (cond
    [(equal? op "add") (add-request (field 'a exact-integer? "an integer")
                                    (field 'b exact-integer? "an integer"))]
    [(equal? op "upper") (upper-request (field 'text string? "a string"))]
    [else (raise (format "unknown op ~s: want add or upper" op))]))

(define (serve request)
  (cond
    [(add-request? request) (+ (add-request-a request) (add-request-b request))]
    [(upper-request? request) (string-upcase (upper-request-text request))]))

(define (handle request)
  (with-handlers ([string? (λ (reason) (hasheq 'error reason))])
    (hasheq 'result (serve (decode request)))))

(module+ main
  (define tagged (tagged-mode?))
  (run-child
   "racket-typed"
   (λ ()
     (let loop ()
       (define request (read-jsonl-frame (current-input-port))) ; objects as jsexprs
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (define answer
           (cond
             [tagged (define-values (id message) (untag request))
                     (list id (handle message))]
             [else (handle request)]))
         (write-jsonl-frame answer (current-output-port)) ; writes and flushes
         (loop))))))
