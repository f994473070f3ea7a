#lang racket/base
;; msgpack.rkt -- the `msgpack` codec of stdiobridge: one msgpack value
;; (spec 2.0, str and bin distinct) per message; frames are self-delimiting.
;; The Racket distribution has no msgpack library; this is a complete one.
;;
;; Racket representation (decoding produces exactly these; encoding accepts
;; them plus the extras marked "also"):
;;   nil             'null
;;   true / false    #t / #f
;;   int (all forms) exact integer           encodable range -2^63 .. 2^64-1
;;   float64         flonum
;;   float32         flonum (the exact float32 value, widened; Racket CS has no
;;                   single-flonums), so it is re-encoded as float64
;;   str             string (UTF-8 checked: invalid UTF-8 is a DecodeError)
;;   bin             byte string
;;   array           list                     also: vector
;;   map             (msgpack-map pairs): pairs is an association list
;;                   ((key . value) ...) in wire order; keys of any type
;;                   (e.g. integers). Encoding keeps that order, so
;;                   decode -> encode is byte-exact for canonical input.
;;                   also: a hash table; its pairs are written sorted by key
;;                   (nil < booleans < numbers < strings < byte strings <
;;                   others), symbol keys written as str (so jsexprs encode)
;;   ext / fixext    (msgpack-ext type data): type -128..127, data bytes
;;                   (e.g. the timestamp extension, type -1, stays opaque)
;; Any other value (other symbols, exact fractions, void, ...) is refused
;; with exn:fail:frame:encode. (NaN and infinities are flonums: they encode.)
;;
;; Encoding uses the smallest representation of every integer, str, bin,
;; array, map and ext length; positive integers use the unsigned forms,
;; negative ones the smallest signed form; floats are float64. Decoding
;; accepts every representation. 0xc1 is a DecodeError.
;;
;; max-frame bounds the encoded size of one message. While reading, a
;; header whose declared length (str/bin/ext payload, or array/map count,
;; each element being at least one byte) cannot fit is refused as
;; FrameTooLarge before its payload is read.
;;
;;   (read-msgpack-frame in)        -> value or eof
;;   (write-msgpack-frame v out)    writes the value and flushes out
;;   (msgpack-encode v) / (msgpack-decode bs)   in memory
;; All take #:max-frame (default 64 MiB).

(require "source.rkt" "frame.rkt")

(provide read-msgpack-frame write-msgpack-frame
         msgpack-encode msgpack-decode
         (struct-out msgpack-map)
         (struct-out msgpack-ext)
         msgpack-map-ref
         (all-from-out "frame.rkt"))

(struct msgpack-map (pairs) #:transparent)
(struct msgpack-ext (type data) #:transparent)

(define (msgpack-map-ref m key [default (λ () (error 'msgpack-map-ref "no such key: ~e" key))])
  (define p (assoc key (msgpack-map-pairs m)))
  (cond [p (cdr p)]
        [(procedure? default) (default)]
        [else default]))

;; ---------------------------------------------------------------------------
;; Decoding

(define (read-msgpack-frame in #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (check-max-frame 'read-msgpack-frame max-frame)
  (define s (make-src in max-frame))
  (cond
    [(not (src-start! s)) eof]
    [else
     (define v (decode-value s))
     (src-consume! s (src-pos s))
     v]))

(define (msgpack-decode bs #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define in (open-input-bytes bs))
  (define v (read-msgpack-frame in #:max-frame max-frame))
  (when (eof-object? v) (raise-truncated 0))
  (unless (eof-object? (peek-byte in))
    (raise-decode-error "extra bytes after the msgpack value"))
  v)

;; unsigned / signed big-endian integer of k bytes at the cursor
(define (read-int! s k signed?)
  (src-need! s k)
  (define p (src-pos s))
  (set-src-pos! s (+ p k))
  (if (= k 1)
      (let ([b (bytes-ref (src-buf s) p)])
        (if (and signed? (>= b 128)) (- b 256) b))
      (integer-bytes->integer (src-buf s) signed? #t p (+ p k))))

(define (read-float! s k)
  (src-need! s k)
  (define p (src-pos s))
  (set-src-pos! s (+ p k))
  (floating-point-bytes->real (src-buf s) #t p (+ p k)))

(define (read-str! s n)
  (src-need! s n)
  (define p (src-pos s))
  (set-src-pos! s (+ p n))
  (or (utf-8->string/strict (src-buf s) p (+ p n))
      (raise-decode-error "msgpack str is not valid UTF-8")))

;; every element takes at least one byte: refuse impossible counts early
(define (check-count! s count)
  (define at-least (+ (src-pos s) count))
  (when (> at-least (src-limit s))
    (raise-too-large at-least (src-limit s) #:at-least? #t)))

(define (read-array! s n)
  (check-count! s n)
  (for/list ([k (in-range n)]) (decode-value s)))

(define (read-map! s n)
  (check-count! s (* 2 n))
  (msgpack-map
   (for/list ([k (in-range n)])
     (define key (decode-value s))
     (cons key (decode-value s)))))

(define (read-ext! s n)
  (define type (read-int! s 1 #t))
  (msgpack-ext type (src-take! s n)))

(define (decode-value s)
  (define b (src-u8! s))
  (cond
    [(<= b #x7f) b]
    [(<= b #x8f) (read-map! s (- b #x80))]
    [(<= b #x9f) (read-array! s (- b #x90))]
    [(<= b #xbf) (read-str! s (- b #xa0))]
    [(>= b #xe0) (- b 256)]
    [else
     (case b
       [(#xc0) 'null]
       [(#xc1) (raise-decode-error "byte 0xc1 is never used in msgpack")]
       [(#xc2) #f]
       [(#xc3) #t]
       [(#xc4) (src-take! s (read-int! s 1 #f))]
       [(#xc5) (src-take! s (read-int! s 2 #f))]
       [(#xc6) (src-take! s (read-int! s 4 #f))]
       [(#xc7) (read-ext! s (read-int! s 1 #f))]
       [(#xc8) (read-ext! s (read-int! s 2 #f))]
       [(#xc9) (read-ext! s (read-int! s 4 #f))]
       [(#xca) (read-float! s 4)]
       [(#xcb) (read-float! s 8)]
       [(#xcc) (read-int! s 1 #f)]
       [(#xcd) (read-int! s 2 #f)]
       [(#xce) (read-int! s 4 #f)]
       [(#xcf) (read-int! s 8 #f)]
       [(#xd0) (read-int! s 1 #t)]
       [(#xd1) (read-int! s 2 #t)]
       [(#xd2) (read-int! s 4 #t)]
       [(#xd3) (read-int! s 8 #t)]
       [(#xd4) (read-ext! s 1)]
       [(#xd5) (read-ext! s 2)]
       [(#xd6) (read-ext! s 4)]
       [(#xd7) (read-ext! s 8)]
       [(#xd8) (read-ext! s 16)]
       [(#xd9) (read-str! s (read-int! s 1 #f))]
       [(#xda) (read-str! s (read-int! s 2 #f))]
       [(#xdb) (read-str! s (read-int! s 4 #f))]
       [(#xdc) (read-array! s (read-int! s 2 #f))]
       [(#xdd) (read-array! s (read-int! s 4 #f))]
       [(#xde) (read-map! s (read-int! s 2 #f))]
       [(#xdf) (read-map! s (read-int! s 4 #f))])]))

;; ---------------------------------------------------------------------------
;; Encoding

(define (write-msgpack-frame v out #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define bs (msgpack-encode v #:max-frame max-frame))
  (write-bytes bs out)
  (flush-output out))

(define (msgpack-encode v #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define o (open-output-bytes))
  (encode-value v o)
  (define bs (get-output-bytes o #t))
  (when (> (bytes-length bs) max-frame)
    (raise-encode-error "msgpack value of ~a bytes exceeds max-frame ~a" (bytes-length bs) max-frame))
  bs)

(define 2^8 256)
(define 2^16 65536)
(define 2^32 4294967296)
(define 2^64 18446744073709551616)
(define 2^63 9223372036854775808)

(define (write-be n k o)           ; k in 1 2 4 8
  (if (= k 1)
      (write-byte (bitwise-and n 255) o)
      (write-bytes (integer->integer-bytes n k (< n 0) #t) o)))

(define (write-tag+be tag n k o)
  (write-byte tag o)
  (write-be n k o))

(define (encode-int n o)
  (cond
    [(>= n 0)
     (cond [(< n 128) (write-byte n o)]
           [(< n 2^8) (write-tag+be #xcc n 1 o)]
           [(< n 2^16) (write-tag+be #xcd n 2 o)]
           [(< n 2^32) (write-tag+be #xce n 4 o)]
           [(< n 2^64) (write-tag+be #xcf n 8 o)]
           [else (raise-encode-error "integer ~a does not fit msgpack (max 2^64-1)" n)])]
    [else
     (cond [(>= n -32) (write-byte (+ n 256) o)]
           [(>= n -128) (write-tag+be #xd0 n 1 o)]
           [(>= n -32768) (write-tag+be #xd1 n 2 o)]
           [(>= n -2147483648) (write-tag+be #xd2 n 4 o)]
           [(>= n (- 2^63)) (write-tag+be #xd3 n 8 o)]
           [else (raise-encode-error "integer ~a does not fit msgpack (min -2^63)" n)])]))

;; header for a length with a fix form (fix-base, fix-max) and 8/16/32 forms
(define (encode-len n fix-base fix-max tag8 tag16 tag32 what o)
  (cond
    [(and fix-base (<= n fix-max)) (write-byte (+ fix-base n) o)]
    [(and tag8 (< n 2^8)) (write-tag+be tag8 n 1 o)]
    [(< n 2^16) (write-tag+be tag16 n 2 o)]
    [(< n 2^32) (write-tag+be tag32 n 4 o)]
    [else (raise-encode-error "~a of length ~a is too long for msgpack" what n)]))

(define (encode-str str o)
  (define bs (string->utf-8 str))
  (encode-len (bytes-length bs) #xa0 31 #xd9 #xda #xdb "str" o)
  (write-bytes bs o))

(define (encode-ext e o)
  (define type (msgpack-ext-type e))
  (define data (msgpack-ext-data e))
  (unless (and (exact-integer? type) (<= -128 type 127))
    (raise-encode-error "msgpack ext type must be in -128..127: ~e" type))
  (unless (bytes? data) (raise-encode-error "msgpack ext data must be bytes: ~e" data))
  (define n (bytes-length data))
  (case n
    [(1) (write-byte #xd4 o)]
    [(2) (write-byte #xd5 o)]
    [(4) (write-byte #xd6 o)]
    [(8) (write-byte #xd7 o)]
    [(16) (write-byte #xd8 o)]
    [else (encode-len n #f 0 #xc7 #xc8 #xc9 "ext" o)])
  (write-byte (bitwise-and type 255) o)
  (write-bytes data o))

(define (encode-pairs pairs n o)
  (encode-len n #x80 15 #f #xde #xdf "map" o)
  (for ([kv (in-list pairs)])
    (unless (pair? kv) (raise-encode-error "msgpack-map entry is not a pair: ~e" kv))
    (encode-value (car kv) o)
    (encode-value (cdr kv) o)))

(define (key-rank k)
  (cond [(eq? k 'null) 0] [(boolean? k) 1] [(real? k) 2] [(string? k) 3] [(bytes? k) 4] [else 5]))

(define (key<? a b)
  (define ra (key-rank a))
  (define rb (key-rank b))
  (cond
    [(not (= ra rb)) (< ra rb)]
    [else
     (case ra
       [(0) #f]
       [(1) (and (not a) b)]
       [(2) (< a b)]
       [(3) (string<? a b)]
       [(4) (bytes<? a b)]
       [else (bytes<? (msgpack-encode a) (msgpack-encode b))])]))

(define (encode-value v o)
  (cond
    [(eq? v 'null) (write-byte #xc0 o)]
    [(eq? v #f) (write-byte #xc2 o)]
    [(eq? v #t) (write-byte #xc3 o)]
    [(exact-integer? v) (encode-int v o)]
    [(flonum? v) (write-byte #xcb o) (write-bytes (real->floating-point-bytes v 8 #t) o)]
    [(string? v) (encode-str v o)]
    [(bytes? v)
     (encode-len (bytes-length v) #f 0 #xc4 #xc5 #xc6 "bin" o)
     (write-bytes v o)]
    [(null? v) (write-byte #x90 o)]
    [(pair? v)
     (unless (list? v) (raise-encode-error "not a proper list: ~e" v))
     (encode-len (length v) #x90 15 #f #xdc #xdd "array" o)
     (for ([x (in-list v)]) (encode-value x o))]
    [(vector? v)
     (encode-len (vector-length v) #x90 15 #f #xdc #xdd "array" o)
     (for ([x (in-vector v)]) (encode-value x o))]
    [(msgpack-map? v)
     (define pairs (msgpack-map-pairs v))
     (unless (list? pairs) (raise-encode-error "msgpack-map pairs must be a list: ~e" pairs))
     (encode-pairs pairs (length pairs) o)]
    [(hash? v)
     (define pairs
       (for/list ([(k x) (in-hash v)])
         (cons (if (symbol? k) (symbol->string k) k) x)))
     (encode-pairs (sort pairs key<? #:key car) (length pairs) o)]
    [(msgpack-ext? v) (encode-ext v o)]
    [else (raise-encode-error "cannot encode ~e as msgpack" v)]))
