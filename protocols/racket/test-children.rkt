#lang racket/base
;; test-children.rkt -- end-to-end tests of the four echo children, each run
;; as a subprocess (`racket echo-<codec>.rkt`): 200 pipelined requests, a
;; 1 MiB message, exit 0 on stdin EOF with nothing on stderr, exit 1 with a
;; reason on a truncated frame, prompt exit on SIGTERM.
;;
;; When STDIOBRIDGE_CHILDREN_DIR is set (e.g. to build/children after
;; `make children`), the built executables racket-<codec> found there are
;; tested the same way.

(module+ test
  (require rackunit
           racket/list
           racket/port
           racket/runtime-path
           racket/system
           compiler/find-exe
           "lines.rkt"
           "jsonl.rkt"
           "lenprefix.rkt"
           "msgpack.rkt")

  (define-runtime-path here ".")
  (define racket-exe (find-exe))

  ;; A running child: its process, stdin, stdout and the stderr text (filled
  ;; by a thread that drains stderr, as the host does).
  (struct child (proc in out err-box err-thread watchdog))

  (define (start-child cmd)
    (define-values (proc out in err)
      (apply subprocess #f #f #f cmd))
    (define err-box (box ""))
    (define err-thread (thread (λ () (set-box! err-box (port->string err)) (close-input-port err))))
    ;; never let a hung child hang the test run
    (define watchdog (thread (λ () (sleep 120) (subprocess-kill proc #t))))
    (child proc in out err-box err-thread watchdog))

  ;; close stdin, wait for the exit; -> (values status stderr-text)
  (define (finish-child c)
    (close-output-port (child-in c))
    (define status (sync/timeout 30 (child-proc c)))
    (unless status (subprocess-kill (child-proc c) #t))
    (thread-wait (child-err-thread c))
    (close-input-port (child-out c))
    (kill-thread (child-watchdog c))
    (values (subprocess-status (child-proc c)) (unbox (child-err-box c))))

  ;; codec adapters: read a frame, write a frame, make the i-th message,
  ;; make a message of about `n` bytes, a truncated frame
  (struct codec (name args read write make-msg make-big truncated))

  (define codecs
    (list
     (codec "lines" '()
            read-line-frame write-line-frame
            (λ (i) (format "request ~a: héllo € 😀 \t\r end" i))
            (λ (n) (make-string n #\L))
            #"no newline at the end")
     (codec "jsonl" '()
            (λ (in) (read-jsonl-frame in #:objects 'ordered)) write-jsonl-frame
            (λ (i) (json-object `((id . ,i) (z . "é\n\"😀") (a . (1 2.5 -0.25 #t #f null))
                                  (big . 18446744073709551615) (nested . ,(json-object '())))))
            (λ (n) (make-string n #\J))
            #"{\"id\": 1")
     (codec "lenprefix" '()
            read-lenprefix-frame write-lenprefix-frame
            (λ (i) (bytes-append (string->bytes/utf-8 (format "req ~a" i)) (bytes 0 10 13 255)))
            (λ (n) (apply bytes (for/list ([k n]) (modulo (* k 7) 256))))
            (bytes 0 0 0 10 1 2 3))
     (codec "lenprefix" '("--width" "2" "--byteorder" "little")
            (λ (in) (read-lenprefix-frame in #:width 2 #:byteorder 'little))
            (λ (v out) (write-lenprefix-frame v out #:width 2 #:byteorder 'little))
            (λ (i) (make-bytes (modulo (* i 37) 100) i))
            (λ (n) (make-bytes 65535 9))           ; the largest a width-2 prefix allows
            (bytes 10 0 1 2 3))
     (codec "msgpack" '()
            read-msgpack-frame write-msgpack-frame
            (λ (i) (msgpack-map `(("id" . ,i) (1 . #"\0\1\2") ("f" . 1.5)
                                  ("l" . (null #t #f -1 -129 4294967296 "é")))))
            (λ (n) (make-bytes n 77))
            (bytes #x92 #xa3 97))))

  (define (child-commands name)
    (append
     (list (list "module" (list racket-exe (path->string (build-path here (format "echo-~a.rkt" name))))))
     (let ([dir (getenv "STDIOBRIDGE_CHILDREN_DIR")])
       (cond
         [dir
          ;; raco test runs a module in its own directory: resolve a relative
          ;; directory against the shell's working directory
          (define base (or (getenv "PWD") (current-directory)))
          (define exe (path->complete-path (build-path dir (format "racket-~a" name)) base))
          (unless (file-exists? exe)
            (error 'test-children "STDIOBRIDGE_CHILDREN_DIR is set but ~a does not exist" exe))
          (list (list "exe" (list (path->string exe))))]
         [else '()]))))

  (for* ([c (in-list codecs)]
         [kind+cmd (in-list (child-commands (codec-name c)))])
    (define label (format "~a ~a~a" (first kind+cmd) (codec-name c)
                          (if (null? (codec-args c)) "" (format " ~a" (codec-args c)))))
    (define cmd (append (second kind+cmd) (codec-args c)))

    (test-case (string-append label ": 200 pipelined requests, a 1 MiB message, EOF -> exit 0")
      (define ch (start-child cmd))
      (define msgs (for/list ([i 200]) ((codec-make-msg c) i)))
      ;; all 200 requests are written before any answer is read (they and
      ;; their answers fit in the pipe buffers), then the answers must come
      ;; back complete and in order
      (for ([m (in-list msgs)]) ((codec-write c) m (child-in ch)))
      (define got (for/list ([i 200]) ((codec-read c) (child-out ch))))
      (check-equal? got msgs)
      ;; 1 MiB does not fit a pipe: write it from another thread while this
      ;; one reads the answer
      (define big ((codec-make-big c) (* 1024 1024)))
      (define writer (thread (λ () ((codec-write c) big (child-in ch)))))
      (check-equal? ((codec-read c) (child-out ch)) big)
      (thread-wait writer)
      (define-values (status err) (finish-child ch))
      (check-equal? status 0)
      (check-equal? err "" "nothing on stderr"))

    (test-case (string-append label ": truncated frame at EOF -> reason on stderr, exit 1")
      (define ch (start-child cmd))
      (write-bytes (codec-truncated c) (child-in ch))
      (define-values (status err) (finish-child ch))
      (check-equal? status 1)
      (check-regexp-match #rx"truncated" err))

    (test-case (string-append label ": SIGTERM while blocked on stdin -> prompt exit")
      (define ch (start-child cmd))
      (define m ((codec-make-msg c) 1))
      ((codec-write c) m (child-in ch))
      (check-equal? ((codec-read c) (child-out ch)) m)  ; the child is up and waiting
      (sleep 0.05)
      (define t0 (current-inexact-milliseconds))
      (define kill (find-executable-path "kill"))
      (when kill
        (system* kill "-TERM" (number->string (subprocess-pid (child-proc ch))))
        (define status (sync/timeout 5 (child-proc ch)))
        (define ms (- (current-inexact-milliseconds) t0))
        (check-not-false status "exited after SIGTERM")
        (check-true (< ms 1000) (format "exit took ~a ms" ms)))
      (finish-child ch)))

  ;; bad input (not just truncated) is a DecodeError with a reason, exit 1
  (for ([name+input (in-list `(("lines" #"ok\n\377\n")
                               ("jsonl" #"INFO starting up\n")
                               ("msgpack" #"\301")))])
    (define name (first name+input))
    (test-case (format "module ~a: undecodable frame -> exit 1" name)
      (define ch (start-child (list racket-exe (path->string (build-path here (format "echo-~a.rkt" name))))))
      (write-bytes (second name+input) (child-in ch))
      (define-values (status err) (finish-child ch))
      (check-equal? status 1)
      (check-regexp-match #rx"DecodeError" err)))

  ;; Tagged mode: every valid vector of ../vectors/tagged.json, sent in one
  ;; stream to a child started with STDIOBRIDGE_TAGGED=1, comes back as exactly
  ;; the same bytes (the child copies each id onto its answer).
  (define-runtime-path tagged-json "../vectors/tagged.json")
  (define (hex->bytes h)
    (apply bytes (for/list ([k (in-range 0 (string-length h) 2)])
                   (string->number (substring h k (+ k 2)) 16))))
  (define (field o key)
    (cond [(assq key (json-object-fields o)) => cdr] [else #f]))
  (define tagged-sets
    (field (jsonl-decode (call-with-input-file tagged-json port->string) #:objects 'ordered)
           'sets))
  (for ([set (in-list tagged-sets)])
    (define name (field set 'codec))
    (define options (field set 'options))
    (define args
      (append (cond [(field options 'width) => (λ (w) (list "--width" (number->string w)))] [else '()])
              (cond [(field options 'byteorder) => (λ (o) (list "--byteorder" o))] [else '()])))
    (define frames (for/list ([v (in-list (field set 'valid))]) (hex->bytes (field v 'hex))))
    (for ([kind+cmd (in-list (child-commands name))])
      (test-case (format "~a ~a ~a: tagged vectors come back byte for byte" (first kind+cmd) name args)
        (define ch
          (parameterize ([current-environment-variables
                          (environment-variables-copy (current-environment-variables))])
            (putenv "STDIOBRIDGE_TAGGED" "1")
            (start-child (append (second kind+cmd) args))))
        (define sent (apply bytes-append frames))
        (define writer (thread (λ () (write-bytes sent (child-in ch)) (close-output-port (child-in ch)))))
        (define got (port->bytes (child-out ch)))
        (thread-wait writer)
        (define-values (status err) (finish-child ch))
        (check-equal? got sent)
        (check-equal? status 0)
        (check-equal? err "")))))
