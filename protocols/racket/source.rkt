#lang racket/base
;; source.rkt -- the internals the four codec modules share (children use
;; frame.rkt and a codec module instead):
;;   * the error kinds (exn structs) every codec raises,
;;   * a "peek source": reads the bytes of ONE frame from an input port by
;;     peeking, with a max-frame check before any payload is buffered, and
;;     consumes them from the port only once the whole frame is known,
;;   * strict UTF-8 conversions with an ASCII fast path.
;;
;; Error kinds (names in the shared test vectors in parentheses):
;;   exn:fail:frame                 base of all of them
;;   exn:fail:frame:decode          a malformed frame          (DecodeError)
;;   exn:fail:frame:too-large       frame over max-frame       (FrameTooLarge)
;;                                  raised from the length prefix/header
;;                                  (lines: the first max-frame + 2 bytes),
;;                                  before the payload is read
;;   exn:fail:frame:truncated       EOF inside a frame (the `buffered` field
;;                                  holds how many bytes of it were received)
;;   exn:fail:frame:encode          a message the codec cannot send (EncodeError)
;;
;; After any exn:fail:frame raised by a reader the port position is
;; unspecified: the stream is not resynchronisable, give up on it.

(require racket/fixnum)

(provide (struct-out exn:fail:frame)
         (struct-out exn:fail:frame:decode)
         (struct-out exn:fail:frame:too-large)
         (struct-out exn:fail:frame:truncated)
         (struct-out exn:fail:frame:encode)
         DEFAULT-MAX-FRAME
         raise-decode-error raise-encode-error raise-too-large raise-truncated
         check-max-frame
         ;; peek source
         make-src src? src-buf src-pos set-src-pos! src-end src-limit
         src-start! src-fill! src-need! src-take! src-u8! src-consume!
         find-lf
         utf-8->string/strict string->utf-8)

(define DEFAULT-MAX-FRAME (* 64 1024 1024))

(struct exn:fail:frame exn:fail ())
(struct exn:fail:frame:decode exn:fail:frame ())
(struct exn:fail:frame:too-large exn:fail:frame (size limit))
(struct exn:fail:frame:truncated exn:fail:frame (buffered))
(struct exn:fail:frame:encode exn:fail:frame ())

(define (raise-decode-error fmt . args)
  (raise (exn:fail:frame:decode
          (string-append "DecodeError: " (apply format fmt args))
          (current-continuation-marks))))

(define (raise-encode-error fmt . args)
  (raise (exn:fail:frame:encode
          (string-append "EncodeError: " (apply format fmt args))
          (current-continuation-marks))))

;; size: the frame size known so far (a lower bound when `at-least?`).
(define (raise-too-large size limit #:at-least? [at-least? #f])
  (raise (exn:fail:frame:too-large
          (format "FrameTooLarge: frame of ~a~a bytes exceeds max-frame ~a"
                  (if at-least? "at least " "") size limit)
          (current-continuation-marks)
          size limit)))

(define (raise-truncated buffered)
  (raise (exn:fail:frame:truncated
          (format "truncated frame: end of input after ~a byte~a of an incomplete frame"
                  buffered (if (= buffered 1) "" "s"))
          (current-continuation-marks)
          buffered)))

(define (check-max-frame who max-frame)
  (unless (exact-nonnegative-integer? max-frame)
    (raise-argument-error who "exact-nonnegative-integer?" max-frame)))

;; ---------------------------------------------------------------------------
;; Peek source.
;;
;; buf[0, end) mirrors the next `end` unread bytes of the port (peeked, not yet
;; consumed); `pos` is the parser's cursor in it. Nothing is consumed from the
;; port until src-consume!, so a reader never leaves half a frame behind
;; except on error. Growth is geometric, so a frame costs O(size) however the
;; bytes trickle in.

(struct src (in [buf #:mutable] [pos #:mutable] [end #:mutable] limit))

(define INITIAL-BUF 4096)

(define (make-src in limit)
  (src in (make-bytes INITIAL-BUF) 0 0 limit))

(define (ensure-capacity! s want)
  (define buf (src-buf s))
  (when (< (bytes-length buf) want)
    (define new (make-bytes (max want (* 2 (bytes-length buf)))))
    (bytes-copy! new 0 buf 0 (src-end s))
    (set-src-buf! s new)))

;; Peek whatever is available (blocking for at least one byte).
;; Returns #f on EOF, else the number of new bytes.
(define (src-fill! s)
  (when (= (src-end s) (bytes-length (src-buf s)))
    (ensure-capacity! s (* 2 (bytes-length (src-buf s)))))
  (define end (src-end s))
  (define buf (src-buf s))
  (define n (peek-bytes-avail! buf end #f (src-in s) end (bytes-length buf)))
  (cond
    [(eof-object? n) #f]
    [(exact-positive-integer? n) (set-src-end! s (+ end n)) n]
    [else (raise-decode-error "unexpected special value in input port")]))

;; Start of a frame: #f when the port is at EOF (a clean frame boundary),
;; #t when at least one byte is there.
(define (src-start! s)
  (and (src-fill! s) #t))

;; Make sure k more bytes are available at pos. Refuses (FrameTooLarge) a
;; frame whose size would exceed the limit BEFORE peeking those bytes.
(define (src-need! s k)
  (define want (+ (src-pos s) k))
  (when (> want (src-limit s))
    (raise-too-large want (src-limit s) #:at-least? #t))
  (when (> want (src-end s))
    (ensure-capacity! s want)
    (let loop ()
      (when (< (src-end s) want)
        (unless (src-fill! s) (raise-truncated (src-end s)))
        (loop)))))

;; The next k bytes as a fresh byte string; advances pos.
(define (src-take! s k)
  (src-need! s k)
  (define p (src-pos s))
  (set-src-pos! s (+ p k))
  (subbytes (src-buf s) p (+ p k)))

(define (src-u8! s)
  (src-need! s 1)
  (define p (src-pos s))
  (set-src-pos! s (+ p 1))
  (bytes-ref (src-buf s) p))

;; Consume n bytes (the frame just parsed) from the port.
(define (src-consume! s n)
  (unless (zero? n)
    (read-bytes! (src-buf s) (src-in s) 0 n)
    (void)))

;; Index of the first LF in buf[start, end), or #f. Tight loop over a byte
;; string already in memory (the bulk read was done by peek-bytes-avail!).
(define (find-lf buf start end)
  (unless (and (<= 0 start end (bytes-length buf)))
    (raise-argument-error 'find-lf "valid range" (list start end)))
  (let loop ([i start])
    (cond [(fx= i end) #f]
          [(fx= (bytes-ref buf i) 10) i]
          [else (loop (fx+ i 1))])))

;; ---------------------------------------------------------------------------
;; UTF-8 conversions with an ASCII fast path (Racket CS's general converters
;; cost several ns per byte; most protocol text is ASCII). Non-ASCII input
;; falls back to the built-in converters from the first non-ASCII byte.

(define ASCII-CHARS (build-vector 128 integer->char))

;; Strict decoding of bs[start, end): a string, or #f if not valid UTF-8.
(define (utf-8->string/strict bs [start 0] [end (bytes-length bs)])
  (unless (and (exact-nonnegative-integer? start) (exact-nonnegative-integer? end)
               (<= start end (bytes-length bs)))
    (raise-argument-error 'utf-8->string/strict "valid range" (list start end)))
  (define s (make-string (- end start)))
  (let loop ([i start] [j 0])
    (cond
      [(fx= i end) s]
      [else
       (define c (bytes-ref bs i))
       (cond
         [(fx< c 128)
          (string-set! s j (vector-ref ASCII-CHARS c))
          (loop (fx+ i 1) (fx+ j 1))]
         [else
          (define rest (with-handlers ([exn:fail:contract? (λ (e) #f)])
                         (bytes->string/utf-8 bs #f i end)))
          (and rest (if (= j 0) rest (string-append (substring s 0 j) rest)))])])))

(define (string->utf-8 s)
  (define n (string-length s))
  (define bs (make-bytes n))
  (let loop ([i 0])
    (cond
      [(fx= i n) bs]
      [else
       (define c (char->integer (string-ref s i)))
       (cond
         [(fx< c 128) (bytes-set! bs i c) (loop (fx+ i 1))]
         [else (bytes-append (subbytes bs 0 i) (string->bytes/utf-8 s #f i n))])])))
