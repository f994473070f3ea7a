#lang racket/base
;; echo-lenprefix.rkt -- reference stdiobridge child for the `lenprefix`
;; codec (a length prefix of --width bytes in --byteorder, then the payload):
;; answers every request with the same byte string, flushing after each
;; frame. Exits 0 at the end of stdin; a truncated or oversized frame -> a
;; reason on stderr, exit 1; SIGTERM -> exits at once. Logs go to stderr only.
;; Tagged mode (STDIOBRIDGE_TAGGED=1): each payload starts with a 4-byte id,
;; copied onto the answer.
;;
;;   racket echo-lenprefix.rkt [--width 1|2|4|8] [--byteorder big|little]

(require racket/cmdline "lenprefix.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

;; >>> YOUR LOGIC GOES HERE: turn one request (a byte string) into one
;; response (a byte string). This reference child echoes.
(define (handle request)
  request)

(module+ main
  (define width 4)
  (define byteorder 'big)
  (command-line
   #:program "racket-lenprefix"
   #:once-each
   [("--width") n "Length prefix width in bytes: 1, 2, 4 (default) or 8"
                (set! width (string->number n))]
   [("--byteorder") order "Length prefix byte order: big (default) or little"
                    (set! byteorder (string->symbol order))])
  (unless (and (memv width '(1 2 4 8)) (memq byteorder '(big little)))
    (eprintf "racket-lenprefix: --width must be 1, 2, 4 or 8, --byteorder big or little\n")
    (exit 2))
  (define tagged (tagged-mode?))
  (run-child
   "racket-lenprefix"
   (λ ()
     (let loop ()
       (define request (read-lenprefix-frame (current-input-port) #:width width #:byteorder byteorder))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (define answer
           (cond
             [tagged (define-values (id message) (untag-bytes request))
                     (bytes-append id (handle message))]
             [else (handle request)]))
         (write-lenprefix-frame answer (current-output-port) #:width width #:byteorder byteorder)
         (loop))))))
