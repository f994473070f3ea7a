#lang racket/base
;; echo-lenprefix.rkt -- reference stdiobridge child for the `lenprefix`
;; codec (length prefix of --width bytes in --byteorder, then the payload).
;;
;; Answers every request with the same byte string, flushing after each
;; frame; exits 0 on stdin EOF; a truncated or oversized frame -> reason on
;; stderr, exit 1; SIGTERM -> exits at once. Logs go to stderr only.
;;
;;   racket echo-lenprefix.rkt [--width 1|2|4|8] [--byteorder big|little] [--max-frame BYTES]
;;   raco exe -o racket-lenprefix echo-lenprefix.rkt

(require racket/cmdline
         "lenprefix.rkt")

;; `raco test` runs this (empty) submodule instead of the module; the
;; end-to-end tests of this child are in test-children.rkt.
(module test racket/base)

(module+ main
  (define width 4)
  (define byteorder 'big)
  (define max-frame DEFAULT-MAX-FRAME)
  (define (usage-error fmt . args)
    (eprintf "racket-lenprefix: ~a\n" (apply format fmt args))
    (exit 2))
  (command-line
   #:program "racket-lenprefix"
   #:once-each
   [("--width") n "Length prefix width in bytes: 1, 2, 4 (default) or 8"
                (set! width (string->number n))]
   [("--byteorder") order "Length prefix byte order: big (default) or little"
                    (set! byteorder (string->symbol order))]
   [("--max-frame") bytes "Largest accepted payload, in bytes (default 64 MiB)"
                    (set! max-frame (string->number bytes))])
  (unless (memv width '(1 2 4 8)) (usage-error "--width must be 1, 2, 4 or 8"))
  (unless (memq byteorder '(big little)) (usage-error "--byteorder must be big or little"))
  (unless (exact-nonnegative-integer? max-frame)
    (usage-error "--max-frame needs a non-negative integer"))

  ;; >>> YOUR LOGIC GOES HERE: turn one request (a byte string) into one
  ;; response (a byte string). This reference child echoes.
  ;; Write logs with eprintf (stderr), never to stdout.
  (define (handle request)
    request)

  (run-child
   "racket-lenprefix"
   (λ ()
     (let loop ()
       (define request (read-lenprefix-frame (current-input-port)
                                             #:width width #:byteorder byteorder
                                             #:max-frame max-frame))
       (unless (eof-object? request)          ; EOF on stdin: finish, exit 0
         (write-lenprefix-frame (handle request) (current-output-port)
                                #:width width #:byteorder byteorder
                                #:max-frame max-frame)
         (loop))))))
