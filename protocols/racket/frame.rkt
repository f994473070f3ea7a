#lang racket/base
;; frame.rkt -- what a reference child uses beside its codec module (each
;; codec module re-exports it):
;;   (run-child name thunk)  runs the read/answer loop as a stdiobridge child:
;;                           thunk returning (end of stdin) -> exit 0; a bad
;;                           frame or any exn:fail -> "name: reason" on stderr,
;;                           exit 1; SIGTERM/SIGHUP/SIGINT -> exit at once.
;;   (tagged-mode?)          #t when the host set STDIOBRIDGE_TAGGED=1.
;;   (untag v)               a jsonl/msgpack tagged frame (id message) -> id, message
;;   (untag-line s)          a lines tagged frame "<id> <text>" -> id, text
;;   (untag-bytes bs)        a lenprefix tagged payload -> 4 id bytes, message bytes
;;   DEFAULT-MAX-FRAME       64 MiB, the host's default max_frame

(require "source.rkt")

(provide DEFAULT-MAX-FRAME run-child tagged-mode? untag untag-line untag-bytes)

(define (tagged-mode?)
  (equal? (getenv "STDIOBRIDGE_TAGGED") "1"))

;; Ids are integers 1 .. 2^32-1 chosen by the host.
(define (id? v)
  (and (exact-integer? v) (<= 1 v #xFFFFFFFF)))

(define (untag v)
  (unless (and (list? v) (= (length v) 2) (id? (car v)))
    (raise-decode-error "not a tagged frame [id, message]: ~e" v))
  (values (car v) (cadr v)))

(define (untag-line s)
  (define m (regexp-match #px"^([1-9][0-9]*) (.*)$" s))
  (unless (and m (id? (string->number (cadr m))))
    (raise-decode-error "not a tagged line \"<id> <text>\": ~e" s))
  (values (string->number (cadr m)) (caddr m)))

(define (untag-bytes bs)
  (unless (>= (bytes-length bs) 4)
    (raise-decode-error "a tagged payload of ~a bytes has no room for its 4-byte id" (bytes-length bs)))
  (values (subbytes bs 0 4) (subbytes bs 4)))

;; stdout is block-buffered: the frame writers flush after every frame, and
;; nothing else may be written there.
(define (run-child name body)
  (define out (current-output-port))
  (when (file-stream-port? out)
    (file-stream-buffer-mode out 'block))
  (define (fail-exit msg)
    (eprintf "~a: ~a\n" name msg)
    (flush-output (current-error-port))
    (exit 1))
  ;; Racket delivers SIGTERM/SIGHUP/SIGINT as breaks to the main thread, even
  ;; while it is blocked reading stdin.
  (with-handlers ([exn:break:terminate? (λ (e) (exit 143))]
                  [exn:break:hang-up? (λ (e) (exit 129))]
                  [exn:break? (λ (e) (exit 130))]
                  [exn:fail? (λ (e) (fail-exit (exn-message e)))])
    (body)
    (flush-output out))
  (exit 0))
