#lang racket/base
;; jsonl.rkt -- the `jsonl` codec of stdiobridge: one JSON value (RFC 8259,
;; UTF-8) per line, compact, followed by LF.
;;
;; The distribution's `json` library is not used: in Racket 8.7 its reader
;; accepts non-JSON ("01" reads as 0, raw control characters inside strings)
;; and crashes with a contract error on some truncated literals ("tru"), and
;; its jsexprs cannot keep object key order. This module has its own strict
;; reader and a byte-exact writer.
;;
;; Racket representation of JSON values (compatible with jsexpr):
;;   null            'null
;;   true / false    #t / #f
;;   number          exact integer when the text has no fraction and no
;;                   exponent (any size: 9007199254740993 stays exact),
;;                   otherwise a flonum
;;   string          string
;;   array           list            (the writer also accepts vectors)
;;   object          #:objects 'hasheq (default): immutable hasheq with symbol
;;                   keys, i.e. a jsexpr; duplicate keys: the last one wins.
;;                   #:objects 'ordered: (json-object fields), fields an
;;                   association list ((key-symbol . value) ...) in wire order.
;;
;; Writer (jsonl-encode / write-jsonl-frame): compact, no spaces; hash-table
;; keys (symbols or strings) are written sorted by code point, json-object
;; fields in their order; non-ASCII written as raw UTF-8; escapes \" \\ \n
;; \r \t \b \f and \u00XX (lowercase hex) for the other control characters,
;; "/" is not escaped; integers exactly; flonums like Python's repr (1.5,
;; -0.25, 0.1, 1e+16, 1e-07, 100.0); NaN/infinities, exact fractions and other
;; values are refused with exn:fail:frame:encode.
;;
;; Framing: like `lines` (split on LF, one CR before it stripped, max-frame
;; counts the line without its ending); an empty line, two values on a line,
;; NaN, a log line, invalid UTF-8, a lone UTF-16 surrogate escape (Racket
;; strings cannot hold one)... are exn:fail:frame:decode. Whitespace is RFC
;; 8259's only (space, tab, CR, LF). A number too large for a flonum
;; ("1e400") reads as +inf.0, as in Python, and cannot be written back.
;; The parser works on the line's bytes; each string is UTF-8-decoded once.
;;
;;   (read-jsonl-frame in)         -> value or eof
;;   (write-jsonl-frame v out)     writes the line + LF, flushes out
;;   (jsonl-decode bs-or-string)   one JSON text (no LF) -> value
;;   (jsonl-encode v)              value -> bytes (no LF)

(require racket/fixnum
         "source.rkt"
         "frame.rkt"
         "lines.rkt")

(provide read-jsonl-frame write-jsonl-frame
         jsonl-decode jsonl-encode
         (struct-out json-object)
         json-object->hasheq
         (all-from-out "frame.rkt"))

(struct json-object (fields) #:transparent)

;; Shallow conversion of an ordered object to a jsexpr hash (last key wins).
(define (json-object->hasheq o)
  (for/fold ([h #hasheq()]) ([kv (in-list (json-object-fields o))])
    (hash-set h (car kv) (cdr kv))))

;; ---------------------------------------------------------------------------
;; Reader

(define (read-jsonl-frame in
                          #:max-frame [max-frame DEFAULT-MAX-FRAME]
                          #:objects [objects 'hasheq])
  (define line (read-line-frame-bytes in #:max-frame max-frame))
  (if (eof-object? line) eof (jsonl-decode line #:objects objects)))

(define (jsonl-decode text #:objects [objects 'hasheq])
  (unless (memq objects '(hasheq ordered))
    (raise-argument-error 'jsonl-decode "(or/c 'hasheq 'ordered)" objects))
  (define bs
    (cond
      [(bytes? text) text]
      [(string? text) (string->bytes/utf-8 text)]
      [else (raise-argument-error 'jsonl-decode "(or/c bytes? string?)" text)]))
  (parse-json bs (eq? objects 'ordered)))

;; The parser works on the UTF-8 bytes directly: outside strings JSON is
;; ASCII, and each string's bytes are decoded (strictly) in one go.
(define (parse-json b ordered?)
  (define n (bytes-length b))
  (define i 0)                          ; cursor, moved token by token

  (define (fail what)
    (raise-decode-error "invalid JSON at byte ~a: ~a" i what))
  (define (byte-at k) (if (< k n) (bytes-ref b k) -1))
  (define (skip-ws!)
    (set! i (let loop ([j i])
              (if (and (< j n) (memv (bytes-ref b j) '(32 9 13 10))) (loop (+ j 1)) j))))
  (define (describe-here)
    (if (< i n) (format "unexpected ~a" (let ([c (bytes-ref b i)])
                                          (if (< 31 c 127) (format "character ~s" (integer->char c))
                                              (format "byte 0x~a" (number->string c 16)))))
        "unexpected end of line"))

  (define (parse-value)
    (skip-ws!)
    (when (>= i n) (fail (if (= n 0) "empty line" "unexpected end of line")))
    (case (bytes-ref b i)
      [(123) (parse-object)]                     ; {
      [(91) (parse-array)]                       ; [
      [(34) (parse-string)]                      ; "
      [(116) (parse-literal #"true" #t)]
      [(102) (parse-literal #"false" #f)]
      [(110) (parse-literal #"null" 'null)]
      [(45 48 49 50 51 52 53 54 55 56 57) (parse-number)]
      [else (fail (describe-here))]))

  (define (parse-literal word v)
    (define k (bytes-length word))
    (if (and (<= (+ i k) n)
             (for/and ([x (in-bytes word)] [j (in-naturals i)]) (= x (bytes-ref b j))))
        (begin (set! i (+ i k)) v)
        (fail "invalid literal")))

  (define (digit? c) (and (>= c 48) (<= c 57)))
  (define (skip-digits j) (if (and (< j n) (digit? (bytes-ref b j))) (skip-digits (+ j 1)) j))

  (define (parse-number)
    (define start i)
    (define j0 (if (= (byte-at i) 45) (+ i 1) i))
    (define j1
      (cond [(= (byte-at j0) 48) (+ j0 1)]
            [(digit? (byte-at j0)) (skip-digits j0)]
            [else (set! i j0) (fail "invalid number")]))
    (define j2
      (cond [(= (byte-at j1) 46)                                   ; .
             (unless (digit? (byte-at (+ j1 1)))
               (set! i (+ j1 1)) (fail "invalid number: digit expected after '.'"))
             (skip-digits (+ j1 1))]
            [else j1]))
    (define j3
      (cond [(memv (byte-at j2) '(101 69))                         ; e E
             (define k (if (memv (byte-at (+ j2 1)) '(43 45)) (+ j2 2) (+ j2 1)))
             (unless (digit? (byte-at k))
               (set! i k) (fail "invalid number: digit expected in exponent"))
             (skip-digits k)]
            [else j2]))
    (set! i j3)
    (define x (string->number (bytes->string/latin-1 b #f start j3) 10))
    (cond [(= j3 j1) x]                                            ; integer: exact
          [(flonum? x) x]
          [else (exact->inexact x)]))

  (define (hex-digit c)
    (cond [(digit? c) (- c 48)]
          [(and (>= c 97) (<= c 102)) (- c 87)]
          [(and (>= c 65) (<= c 70)) (- c 55)]
          [else (fail "invalid \\u escape")]))
  (define (parse-u4)                    ; i is just after "\u"
    (unless (<= (+ i 4) n) (fail "truncated \\u escape"))
    (define v (for/fold ([v 0]) ([k (in-range 4)])
                (+ (* v 16) (hex-digit (bytes-ref b (+ i k))))))
    (set! i (+ i 4))
    v)

  ;; first index >= j holding '"', '\' or a control byte (or n)
  (define (scan-plain j)
    (let loop ([j j])
      (if (and (fx< j n)
               (let ([c (bytes-ref b j)])
                 (and (fx>= c 32) (not (fx= c 34)) (not (fx= c 92)))))
          (loop (fx+ j 1))
          j)))
  (define (utf-8 bs start end)
    (or (utf-8->string/strict bs start end)
        (raise-decode-error "invalid UTF-8 in a JSON string near byte ~a" start)))

  (define (parse-string)
    (define start (+ i 1))
    (define j (scan-plain start))
    (cond
      [(and (< j n) (= (bytes-ref b j) 34))          ; no escapes: the common case
       (set! i (+ j 1))
       (utf-8 b start j)]
      [else
       (define o (open-output-bytes))
       (write-bytes b o start j)
       (set! i j)
       (let loop ()
         (when (>= i n) (fail "unterminated string"))
         (define c (bytes-ref b i))
         (cond
           [(= c 34) (set! i (+ i 1))]
           [(= c 92)
            (when (>= (+ i 1) n) (set! i (+ i 1)) (fail "unterminated string"))
            (define e (bytes-ref b (+ i 1)))
            (set! i (+ i 2))
            (case e
              [(34) (write-byte 34 o)]
              [(92) (write-byte 92 o)]
              [(47) (write-byte 47 o)]
              [(98) (write-byte 8 o)]
              [(102) (write-byte 12 o)]
              [(110) (write-byte 10 o)]
              [(114) (write-byte 13 o)]
              [(116) (write-byte 9 o)]
              [(117)
               (define u (parse-u4))
               (cond
                 [(<= #xD800 u #xDBFF)
                  (unless (and (<= (+ i 6) n) (= (bytes-ref b i) 92) (= (bytes-ref b (+ i 1)) 117))
                    (fail "lone UTF-16 surrogate in \\u escape"))
                  (set! i (+ i 2))
                  (define lo (parse-u4))
                  (unless (<= #xDC00 lo #xDFFF) (fail "lone UTF-16 surrogate in \\u escape"))
                  (write-char (integer->char (+ #x10000 (arithmetic-shift (- u #xD800) 10) (- lo #xDC00)))
                              o)]
                 [(<= #xDC00 u #xDFFF) (fail "lone UTF-16 surrogate in \\u escape")]
                 [else (write-char (integer->char u) o)])]
              [else (set! i (- i 1)) (fail (format "invalid escape \\~a" (integer->char e)))])
            (loop)]
           [(< c 32) (fail "unescaped control character in string")]
           [else
            (define k (scan-plain i))
            (write-bytes b o i k)
            (set! i k)
            (loop)]))
       (define out (get-output-bytes o #t))
       (utf-8 out 0 (bytes-length out))]))

  (define (parse-array)
    (set! i (+ i 1))
    (skip-ws!)
    (cond
      [(= (byte-at i) 93) (set! i (+ i 1)) '()]                    ; ]
      [else
       (let loop ([acc (list (parse-value))])
         (skip-ws!)
         (case (byte-at i)
           [(44) (set! i (+ i 1)) (loop (cons (parse-value) acc))]  ; ,
           [(93) (set! i (+ i 1)) (reverse acc)]
           [else (fail (if (< i n) "expected ',' or ']'" "unexpected end of line in array"))]))]))

  (define (parse-member)
    (skip-ws!)
    (unless (= (byte-at i) 34)
      (fail (if (< i n) "expected a string key" "unexpected end of line in object")))
    (define k (string->symbol (parse-string)))
    (skip-ws!)
    (unless (= (byte-at i) 58)                                     ; :
      (fail (if (< i n) "expected ':'" "unexpected end of line, expected ':'")))
    (set! i (+ i 1))
    (cons k (parse-value)))

  (define (parse-object)
    (set! i (+ i 1))
    (skip-ws!)
    (define fields
      (cond
        [(= (byte-at i) 125) (set! i (+ i 1)) '()]                 ; }
        [else
         (let loop ([acc (list (parse-member))])
           (skip-ws!)
           (case (byte-at i)
             [(44) (set! i (+ i 1)) (loop (cons (parse-member) acc))]
             [(125) (set! i (+ i 1)) (reverse acc)]
             [else (fail (if (< i n) "expected ',' or '}'" "unexpected end of line in object"))]))]))
    (if ordered?
        (json-object fields)
        (for/fold ([h #hasheq()]) ([kv (in-list fields)])
          (hash-set h (car kv) (cdr kv)))))

  (define v (parse-value))
  (skip-ws!)
  (when (< i n) (fail "extra data after the JSON value"))
  v)

;; ---------------------------------------------------------------------------
;; Writer

(define (write-jsonl-frame v out #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define bs (jsonl-encode v #:max-frame max-frame))
  (write-bytes bs out)
  (write-bytes #"\n" out)
  (flush-output out))

;; -> the JSON text as bytes, without the LF
(define (jsonl-encode v #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define o (open-output-bytes))
  (write-json-value v o)
  (define bs (get-output-bytes o #t))
  (when (> (bytes-length bs) max-frame)
    (raise-encode-error "JSON text of ~a bytes exceeds max-frame ~a" (bytes-length bs) max-frame))
  bs)

(define (write-json-value v o)
  (cond
    [(eq? v 'null) (write-bytes #"null" o)]
    [(eq? v #t) (write-bytes #"true" o)]
    [(eq? v #f) (write-bytes #"false" o)]
    [(exact-integer? v) (write-string (number->string v) o)]
    [(flonum? v) (write-string (flonum->json v) o)]
    [(string? v) (write-json-string v o)]
    [(null? v) (write-bytes #"[]" o)]
    [(pair? v)
     (unless (list? v) (raise-encode-error "not a proper list: ~e" v))
     (write-json-seq (in-list v) o)]
    [(vector? v) (write-json-seq (in-vector v) o)]
    [(json-object? v) (write-json-fields (json-object-fields v) o)]
    [(hash? v)
     (define fields
       (for/list ([(k val) (in-hash v)]) (cons (key->string k) val)))
     (write-json-fields (sort fields string<? #:key car) o)]
    [(real? v) (raise-encode-error "cannot encode the number ~e as JSON" v)]
    [else (raise-encode-error "cannot encode ~e as JSON" v)]))

(define (write-json-seq seq o)
  (write-bytes #"[" o)
  (for ([x seq] [k (in-naturals)])
    (unless (zero? k) (write-bytes #"," o))
    (write-json-value x o))
  (write-bytes #"]" o))

(define (key->string k)
  (cond [(symbol? k) (symbol->string k)]
        [(string? k) k]
        [else (raise-encode-error "JSON object key must be a symbol or string: ~e" k)]))

(define (write-json-fields fields o)
  (write-bytes #"{" o)
  (for ([kv (in-list fields)] [k (in-naturals)])
    (unless (pair? kv) (raise-encode-error "json-object field is not a pair: ~e" kv))
    (unless (zero? k) (write-bytes #"," o))
    (write-json-string (key->string (car kv)) o)
    (write-bytes #":" o)
    (write-json-value (cdr kv) o))
  (write-bytes #"}" o))

(define HEX #"0123456789abcdef")

;; The string is converted to UTF-8 once; bytes needing an escape are all
;; ASCII ('"', '\\', < 0x20), so the UTF-8 bytes are scanned and copied in runs.
(define (write-json-string s o)
  (define b (string->utf-8 s))
  (define n (bytes-length b))
  (define (plain-run j)
    (let loop ([j j])
      (if (and (fx< j n)
               (let ([c (bytes-ref b j)])
                 (and (fx>= c 32) (not (fx= c 34)) (not (fx= c 92)))))
          (loop (fx+ j 1))
          j)))
  (write-bytes #"\"" o)
  (let loop ([start 0])
    (define j (plain-run start))
    (write-bytes b o start j)
    (when (< j n)
      (define c (bytes-ref b j))
      (case c
        [(34) (write-bytes #"\\\"" o)]
        [(92) (write-bytes #"\\\\" o)]
        [(10) (write-bytes #"\\n" o)]
        [(13) (write-bytes #"\\r" o)]
        [(9) (write-bytes #"\\t" o)]
        [(8) (write-bytes #"\\b" o)]
        [(12) (write-bytes #"\\f" o)]
        [else
         (write-bytes #"\\u00" o)
         (write-byte (bytes-ref HEX (quotient c 16)) o)
         (write-byte (bytes-ref HEX (remainder c 16)) o)])
      (loop (+ j 1))))
  (write-bytes #"\"" o))

;; Shortest round-trip digits (Racket's printer), laid out like Python's
;; float repr: plain notation when -4 <= exponent < 16, otherwise d.ddde+XX.
(define (flonum->json x)
  (unless (and (= x x) (< (abs x) +inf.0))
    (raise-encode-error "cannot encode ~a in JSON" x))
  (define s (number->string x))
  (define ax (abs x))
  (cond
    ;; fast path: Racket already printed plain notation in Python's plain
    ;; range, with too few digits for a rounding tie (see python-tie-break)
    [(and (<= 1e-4 ax) (< ax 1e16)
          (< (string-length s) 16)
          (not (for/or ([c (in-string s)]) (char=? c #\e))))
     s]
    [else (flonum->json/slow x s)]))

(define (flonum->json/slow x s)
  (define neg? (char=? (string-ref s 0) #\-))
  (define body (if neg? (substring s 1) s))
  (define-values (mant exp10)
    (let ([m (regexp-match #rx"^([0-9.]+)(?:e([-+]?[0-9]+))?$" body)])
      (unless m (error 'flonum->json "unexpected flonum printing: ~a" s))
      (values (cadr m) (if (caddr m) (string->number (caddr m)) 0))))
  (define-values (int-part frac-part)
    (let ([parts (regexp-match #rx"^([0-9]*)(?:\\.([0-9]*))?$" mant)])
      (values (cadr parts) (or (caddr parts) ""))))
  (define all (string-append int-part frac-part))
  ;; value = 0.<all> * 10^point
  (define lead (let loop ([k 0]) (if (and (< k (string-length all)) (char=? (string-ref all k) #\0)) (loop (+ k 1)) k)))
  (define digits0 (substring all lead))
  (define point (- (+ (string-length int-part) exp10) lead))
  (define digits (python-tie-break (strip-trailing-zeros digits0) point (abs x)))
  (define sign (if neg? "-" ""))
  (cond
    [(string=? digits "") (string-append sign "0.0")]
    [else
     (define nd (string-length digits))
     (define sci-exp (- point 1))
     (cond
       [(and (>= sci-exp -4) (< sci-exp 16))
        (string-append
         sign
         (cond
           [(<= point 0) (string-append "0." (make-string (- point) #\0) digits)]
           [(>= point nd) (string-append digits (make-string (- point nd) #\0) ".0")]
           [else (string-append (substring digits 0 point) "." (substring digits point))]))]
       [else
        (define e (abs sci-exp))
        (string-append sign
                       (substring digits 0 1)
                       (if (> nd 1) (string-append "." (substring digits 1)) "")
                       "e" (if (< sci-exp 0) "-" "+")
                       (if (< e 10) "0" "")
                       (number->string e))])]))

(define (strip-trailing-zeros digits)
  (let loop ([e (string-length digits)])
    (if (and (> e 0) (char=? (string-ref digits (- e 1)) #\0))
        (loop (- e 1))
        (substring digits 0 e))))

;; When x lies exactly halfway between two shortest decimal candidates, Racket
;; rounds the last digit up while Python (and Go) pick the even one. Both
;; read back as x; choose the even one so that output matches Python's repr.
;; digits: significant digits d1d2...dn, value 0.d1...dn * 10^point.
(define (python-tie-break digits point ax)
  (define nd (string-length digits))
  (cond
    ;; a tie needs the (nd+1)-digit midpoint to be x itself while nd digits
    ;; still identify x: only possible with 16 or more significant digits
    [(or (< nd 16) (even? (char->integer (string-ref digits (- nd 1))))) digits]
    [else
     (define unit (expt 10 (- point nd)))
     (define c1 (* (string->number digits) unit))
     (define ex (inexact->exact ax))
     (define (try c)
       (and (positive? c)
            (= (abs (- ex c)) (abs (- c1 ex)))
            (= (exact->inexact c) ax)
            c))
     (define c2 (or (try (- c1 unit)) (try (+ c1 unit))))
     (cond
       [(not c2) digits]
       [else
        ;; c2 = m * unit with m having nd digits (or nd+1 on a carry, or
        ;; fewer after a borrow): re-derive the digit string from m
        (define m (/ c2 unit))
        (define s (number->string m))
        (define shift (- (string-length s) nd))   ; keeps the value 0.s * 10^(point+shift)
        (if (= shift 0)
            (strip-trailing-zeros s)
            digits)])]))
