#lang racket/base
;; test-vectors.rkt -- checks the four frame libraries against the shared
;; golden vectors in ../vectors/*.json, byte for byte, plus a few extra cases
;; the vectors do not cover. Run with `raco test protocols/racket`.

(module+ test
  (require rackunit
           racket/list
           racket/port
           racket/runtime-path
           (prefix-in rj: json)
           "source.rkt"
           "lines.rkt"
           "jsonl.rkt"
           "lenprefix.rkt"
           "msgpack.rkt")

  (define-runtime-path vectors-dir "../vectors")

  ;; ---------------------------------------------------------------- helpers
  (define (hex->bytes h)
    (unless (even? (string-length h)) (error 'hex->bytes "odd length: ~a" h))
    (apply bytes (for/list ([k (in-range 0 (string-length h) 2)])
                   (string->number (substring h k (+ k 2)) 16))))
  (define (bytes->hex bs)
    (apply string-append
           (for/list ([b (in-bytes bs)])
             (string-append (if (< b 16) "0" "") (number->string b 16)))))

  ;; The vector files are read with jsonl.rkt's own reader in ordered mode
  ;; (so the key order of the messages is kept); the result is cross-checked
  ;; against the distribution's `json` reader below.
  (define (load-vectors codec)
    (define text (call-with-input-file (build-path vectors-dir (format "~a.json" codec))
                   port->string))
    (define ordered (jsonl-decode text #:objects 'ordered))
    (check-equal? (deep-hasheq ordered) (rj:string->jsexpr text)
                  (format "~a.json: jsonl.rkt reader agrees with the json library" codec))
    ordered)

  ;; ordered json-objects -> jsexpr hashes, recursively
  (define (deep-hasheq v)
    (cond [(json-object? v)
           (for/fold ([h #hasheq()]) ([kv (in-list (json-object-fields v))])
             (hash-set h (car kv) (deep-hasheq (cdr kv))))]
          [(list? v) (map deep-hasheq v)]
          [else v]))

  ;; are the keys of every object (at every depth) in sorted order?
  (define (keys-sorted? v)
    (cond [(json-object? v)
           (define ks (map (λ (kv) (symbol->string (car kv))) (json-object-fields v)))
           (and (equal? ks (sort ks string<?))
                (andmap keys-sorted? (map cdr (json-object-fields v))))]
          [(list? v) (andmap keys-sorted? v)]
          [else #t]))

  (define (field o key [default (λ () (error 'field "missing ~a in ~e" key o))])
    (define p (assq (string->symbol key) (json-object-fields o)))
    (cond [p (cdr p)] [(procedure? default) (default)] [else default]))

  (define (read-all read-frame bs)
    ;; -> (values messages error-or-#f); error is the exn that stopped reading
    (define in (open-input-bytes bs))
    (let loop ([acc '()])
      (define r (with-handlers ([exn:fail:frame? values]) (read-frame in)))
      (cond [(eof-object? r) (values (reverse acc) #f)]
            [(exn:fail:frame? r) (values (reverse acc) r)]
            [else (loop (cons r acc))])))

  (define (error-kind e)
    (cond [(exn:fail:frame:too-large? e) "FrameTooLarge"]
          [(exn:fail:frame:decode? e) "DecodeError"]
          [(exn:fail:frame:truncated? e) "Truncated"]
          [(exn:fail:frame:encode? e) "EncodeError"]
          [else (format "~e" e)]))

  ;; A codec adapter for the generic vector driver.
  ;;   make: options (json-object) -> (values read-frame write-frame)
  ;;   message: case -> Racket message;  messages: case key -> list
  (struct codec (name make message messages))

  (define (run-codec c)
    (define doc (load-vectors (codec-name c)))
    (check-equal? (field doc "codec") (codec-name c))
    (for ([set (in-list (field doc "sets"))] [set-index (in-naturals)])
      (define-values (read-frame write-frame) ((codec-make c) (field set "options")))
      (define (encode msg)
        (define o (open-output-bytes))
        (write-frame msg o)
        (get-output-bytes o))
      (define (label kind case)
        (format "~a set ~a ~a ~a" (codec-name c) set-index kind (field case "name")))

      (for ([case (in-list (field set "valid" '()))])
        (define msg ((codec-message c) case))
        (define frame (hex->bytes (field case "hex")))
        (test-case (label "valid" case)
          (unless (equal? (field case "direction" "both") "decode")
            (check-equal? (bytes->hex (encode msg)) (field case "hex") "encode"))
          (define-values (msgs err) (read-all read-frame frame))
          (check-false err "decode raised")
          (check-equal? msgs (list msg) "decode")))

      (for ([case (in-list (field set "streams" '()))])
        (test-case (label "stream" case)
          (define-values (msgs err) (read-all read-frame (hex->bytes (field case "hex"))))
          (check-equal? msgs ((codec-messages c) case "messages"))
          (define buffered (field case "buffered"))
          (cond
            [(zero? buffered) (check-false err)]
            [else
             (check-pred exn:fail:frame:truncated? err)
             (when (exn:fail:frame:truncated? err)
               (check-equal? (exn:fail:frame:truncated-buffered err) buffered
                             "bytes of the incomplete frame"))])))

      (for ([case (in-list (field set "invalid" '()))])
        (test-case (label "invalid" case)
          (define-values (msgs err) (read-all read-frame (hex->bytes (field case "hex"))))
          (check-equal? msgs ((codec-messages c) case "messages_before"))
          (check-equal? (and err (error-kind err)) (field case "error"))))

      (for ([case (in-list (field set "unencodable" '()))])
        (test-case (label "unencodable" case)
          (check-exn exn:fail:frame:encode? (λ () (encode ((codec-message c) case))))
          (check-equal? (field case "error") "EncodeError")))))

  (define (opt options key default) (field options key default))

  ;; ------------------------------------------------------------------ lines
  (run-codec
   (codec "lines"
          (λ (o)
            (define mf (opt o "max_frame" DEFAULT-MAX-FRAME))
            (values (λ (in) (read-line-frame in #:max-frame mf))
                    (λ (m out) (write-line-frame m out #:max-frame mf))))
          (λ (case) (field case "message"))
          (λ (case key) (field case key))))

  ;; ------------------------------------------------------------- lenprefix
  (run-codec
   (codec "lenprefix"
          (λ (o)
            (define w (opt o "width" 4))
            (define bo (string->symbol (opt o "byteorder" "big")))
            (define mf (opt o "max_frame" DEFAULT-MAX-FRAME))
            (values (λ (in) (read-lenprefix-frame in #:width w #:byteorder bo #:max-frame mf))
                    (λ (m out) (write-lenprefix-frame m out #:width w #:byteorder bo #:max-frame mf))))
          (λ (case) (hex->bytes (field case "message_hex")))
          (λ (case key) (map hex->bytes (field case (string-append key "_hex"))))))

  ;; ----------------------------------------------------------------- jsonl
  ;; Ordered mode: objects keep their wire order, so every vector matches.
  (run-codec
   (codec "jsonl"
          (λ (o)
            (define mf (opt o "max_frame" DEFAULT-MAX-FRAME))
            (values (λ (in) (read-jsonl-frame in #:max-frame mf #:objects 'ordered))
                    (λ (m out) (write-jsonl-frame m out #:max-frame mf))))
          (λ (case) (field case "message"))
          (λ (case key) (field case key))))

  ;; Default (jsexpr) mode: decoding must give the same values as hashes;
  ;; encoding a hash writes sorted keys, which matches every vector whose
  ;; keys are sorted (the README promises all multi-key vectors are).
  (define unsorted-jsonl-vectors '())
  (for* ([set (in-list (field (load-vectors "jsonl") "sets"))]
         [case (in-list (field set "valid"))])
    (define mf (opt (field set "options") "max_frame" DEFAULT-MAX-FRAME))
    (define msg (field case "message"))
    (define frame (hex->bytes (field case "hex")))
    (test-case (format "jsonl jsexpr-mode valid ~a" (field case "name"))
      (check-equal? (read-jsonl-frame (open-input-bytes frame) #:max-frame mf)
                    (deep-hasheq msg))
      (unless (equal? (field case "direction" "both") "decode")
        (define out (open-output-bytes))
        (write-jsonl-frame (deep-hasheq msg) out #:max-frame mf)
        (if (keys-sorted? msg)
            (check-equal? (bytes->hex (get-output-bytes out)) (field case "hex"))
            (set! unsorted-jsonl-vectors
                  (cons (field case "name") unsorted-jsonl-vectors))))))
  (unless (null? unsorted-jsonl-vectors)
    (eprintf "note: jsonl vectors with unsorted keys (checked in ordered mode only): ~a\n"
             (reverse unsorted-jsonl-vectors)))

  ;; --------------------------------------------------------------- msgpack
  ;; typed JSON form -> Racket msgpack representation
  (define (typed->msgpack v)
    (cond
      [(json-object? v)
       (define fs (json-object-fields v))
       (unless (= (length fs) 1) (error 'typed->msgpack "bad typed value ~e" v))
       (define k (caar fs))
       (define x (cdar fs))
       (case k
         [(float64 float32) (exact->inexact x)]
         [(bin) (hex->bytes x)]
         [(map) (msgpack-map (for/list ([kv (in-list x)])
                               (cons (typed->msgpack (first kv)) (typed->msgpack (second kv)))))]
         [else (error 'typed->msgpack "unknown type tag ~a" k)])]
      [(list? v) (map typed->msgpack v)]
      [else v]))

  (run-codec
   (codec "msgpack"
          (λ (o)
            (define mf (opt o "max_frame" DEFAULT-MAX-FRAME))
            (values (λ (in) (read-msgpack-frame in #:max-frame mf))
                    (λ (m out) (write-msgpack-frame m out #:max-frame mf))))
          (λ (case) (typed->msgpack (field case "message")))
          (λ (case key) (map typed->msgpack (field case key)))))

  ;; ===================================================== beyond the vectors

  ;; A port that yields `head` and then fails if anyone reads past it: proves
  ;; that FrameTooLarge is decided from the prefix/header alone.
  (define (bomb-port head)
    (input-port-append
     #f
     (open-input-bytes head)
     (make-input-port 'bomb
                      (λ (bs) (error 'bomb "read past the header"))
                      (λ (bs skip evt) (error 'bomb "peeked past the header"))
                      void)))

  (test-case "FrameTooLarge before the payload is read"
    (check-exn exn:fail:frame:too-large?
               (λ () (read-lenprefix-frame (bomb-port (bytes 0 0 0 9)) #:max-frame 8)))
    (check-exn exn:fail:frame:too-large?
               (λ () (read-lenprefix-frame (bomb-port (bytes 255 255 255 255 255 255 255 255))
                                           #:width 8)))
    (check-exn exn:fail:frame:too-large?
               (λ () (read-msgpack-frame (bomb-port (bytes #xc6 255 255 255 255)))))
    (check-exn exn:fail:frame:too-large?
               (λ () (read-msgpack-frame (bomb-port (bytes #xdb 0 0 0 9)) #:max-frame 8)))
    ;; an array32 announcing 2^32-1 elements cannot fit 64 MiB
    (check-exn exn:fail:frame:too-large?
               (λ () (read-msgpack-frame (bomb-port (bytes #xdd 255 255 255 255)))))
    (check-exn exn:fail:frame:too-large?
               (λ () (read-line-frame (bomb-port #"0123456789") #:max-frame 8)))
    (check-exn exn:fail:frame:too-large?
               (λ () (read-line-frame (bomb-port #"012345678") #:max-frame 8))))

  (test-case "UTF-8 helpers agree with the built-in converters"
    (for ([s (list "" "abc" "é" "aé" "abc😀def" (make-string 1000 #\x) "\u0000\u007f\u0080\uFFFF\U10FFFF")])
      (check-equal? (string->utf-8 s) (string->bytes/utf-8 s))
      (check-equal? (utf-8->string/strict (string->bytes/utf-8 s)) s))
    (for ([b (list #"\377" #"a\300\200" #"ab\355\240\200" #"\342\202" #"abc\364\220\200\200")])
      (check-false (utf-8->string/strict b) (format "~s" b)))
    (check-equal? (utf-8->string/strict #"xxh\303\251yy" 2 6) "h\u00e9y"))

  (test-case "lines: CR handling and limits"
    (define (rd bs [mf 8]) (read-line-frame (open-input-bytes bs) #:max-frame mf))
    (check-equal? (rd #"12345678\r\n") "12345678")
    (check-equal? (rd #"1234567\r\r\n") "1234567\r")
    (check-exn exn:fail:frame:too-large? (λ () (rd #"12345678\r\r\n")))
    (check-exn exn:fail:frame:truncated? (λ () (rd #"12345678\r")))
    (check-equal? (rd #"\r\n") "")
    (check-equal? (rd #"") eof)
    (check-equal? (lines-encode "héllo") #"h\303\251llo\n")
    (check-equal? (lines-decode #"a\rb\r\n") "a\rb")
    (check-exn exn:fail:frame:decode? (λ () (lines-decode #"\355\240\200\n")))  ; surrogate
    (check-exn exn:fail:frame:decode? (λ () (lines-decode #"\300\200\n"))))    ; overlong

  (test-case "lines: a long line arriving in small pieces"
    (define line (make-bytes 300000 (char->integer #\z)))
    (define-values (pin pout) (make-pipe 1000))
    (define writer (thread (λ () (write-bytes line pout) (write-bytes #"\n" pout) (close-output-port pout))))
    (check-equal? (read-line-frame-bytes pin) line)
    (check-equal? (read-line-frame-bytes pin) eof)
    (thread-wait writer))

  (test-case "jsonl: strict reader"
    (define (bad s) (check-exn exn:fail:frame:decode? (λ () (jsonl-decode s)) s))
    (for-each bad '("" "   " "01" "-01" "1." ".5" "+1" "1e" "1e+" "tru" "truex" "nul" "NaN"
                    "Infinity" "-Infinity" "[1,]" "[,1]" "{\"a\":1,}" "{\"a\" 1}" "{a:1}"
                    "{'a':1}" "\"abc" "\"a\tb\"" "\"\\x\"" "\"\\ud800\"" "\"\\udc00\""
                    "\"\\ud800\\u0041\"" "\"\\u12\"" "[1 2]" "1 2" "\f1" "\u00a01" "[" "{"
                    "{\"a\"" "{\"a\":" "// comment" "'a'" "\uFEFF1"))
    (check-equal? (jsonl-decode "-0") 0)
    (check-equal? (jsonl-decode "-0.0") -0.0)
    (check-equal? (jsonl-decode "1E2") 100.0)
    (check-equal? (jsonl-decode "1e400") +inf.0)
    (check-equal? (jsonl-decode " \t[ ]\r ") '())
    (check-equal? (jsonl-decode "123456789012345678901234567890") 123456789012345678901234567890)
    (check-equal? (jsonl-decode "\"\\u00e9\\uD83D\\uDE00\\/\\b\\f\"") "é😀/\b\f")
    (check-equal? (jsonl-decode "{\"a\":1,\"a\":2}") #hasheq((a . 2)))
    (check-equal? (jsonl-decode "{\"b\":1,\"a\":2}" #:objects 'ordered)
                  (json-object '((b . 1) (a . 2))))
    (check-exn exn:fail:frame:decode? (λ () (jsonl-decode #"\"\377\""))))

  (test-case "jsonl: writer"
    (define (enc v) (bytes->string/utf-8 (jsonl-encode v)))
    (check-equal? (enc (hasheq 'b 1 'a 2 'é 3 'Z 4)) "{\"Z\":4,\"a\":2,\"b\":1,\"é\":3}")
    (check-equal? (enc (hash "k" '(1 2))) "{\"k\":[1,2]}")
    (check-equal? (enc (vector 1 "x")) "[1,\"x\"]")
    (check-equal? (enc "\b\f\u007f\u2028<&>") "\"\\b\\f\u007f\u2028<&>\"")
    (for ([x '(1.5 -0.25 0.1 100.0 1e15 1e16 1e-4 1e-5 1e-7 1.5e-10 123456789012345680.0
               1e22 1.7976931348623157e308 5e-324 -0.0 0.0 2.5e-5 12345.678)]
          [s '("1.5" "-0.25" "0.1" "100.0" "1000000000000000.0" "1e+16" "0.0001" "1e-05"
               "1e-07" "1.5e-10" "1.2345678901234568e+17" "1e+22" "1.7976931348623157e+308"
               "5e-324" "-0.0" "0.0" "2.5e-05" "12345.678")])
      (check-equal? (enc x) s)
      (check-equal? (jsonl-decode (enc x)) x))
    (for ([v (list +inf.0 -inf.0 +nan.0 1/2 'foo (void) (hash 1 2) (cons 1 2))])
      (check-exn exn:fail:frame:encode? (λ () (jsonl-encode v)) (format "~e" v)))
    (check-exn exn:fail:frame:encode? (λ () (jsonl-encode "123456" #:max-frame 7))))

  (test-case "msgpack: integer boundaries"
    (for ([n (list 0 127 128 255 256 65535 65536 4294967295 4294967296 18446744073709551615
                   -1 -32 -33 -128 -129 -32768 -32769 -2147483648 -2147483649
                   -9223372036854775808)]
          [len '(1 1 2 2 3 3 5 5 9 9 1 1 2 2 3 3 5 5 9 9)])
      (define bs (msgpack-encode n))
      (check-equal? (bytes-length bs) len (format "size of ~a" n))
      (check-equal? (msgpack-decode bs) n))
    (check-exn exn:fail:frame:encode? (λ () (msgpack-encode 18446744073709551616)))
    (check-exn exn:fail:frame:encode? (λ () (msgpack-encode -9223372036854775809)))
    ;; every non-canonical integer form decodes
    (check-equal? (msgpack-decode (bytes #xd0 5)) 5)
    (check-equal? (msgpack-decode (bytes #xd3 255 255 255 255 255 255 255 255)) -1)
    (check-equal? (msgpack-decode (bytes #xcd 0 1)) 1))

  (test-case "msgpack: strings, bins, containers, ext"
    (define (rt v) (msgpack-decode (msgpack-encode v)))
    (for ([n '(0 31 32 255 256 65535 65536)]
          [hdr '(1 1 2 2 3 3 5)])
      (check-equal? (bytes-length (msgpack-encode (make-string n #\a))) (+ n hdr))
      (check-equal? (bytes-length (msgpack-encode (make-bytes n 1)))
                    (+ n (cond [(< n 256) 2] [(< n 65536) 3] [else 5]))))
    (for ([n '(0 15 16 65535 65536)]
          [hdr '(1 1 3 3 5)])
      (check-equal? (bytes-length (msgpack-encode (make-list n 0))) (+ n hdr))
      (define m (msgpack-map (for/list ([k n]) (cons k 'null))))
      (check-equal? (rt m) m))
    (check-equal? (msgpack-encode (hash "b" 1 "a" 2)) (msgpack-encode (msgpack-map '(("a" . 2) ("b" . 1)))))
    (check-equal? (msgpack-encode (hasheq 'k 'null)) (bytes #x81 #xa1 107 #xc0))
    (check-equal? (rt (vector 1 2)) '(1 2))
    (check-equal? (rt (msgpack-map (list (cons '(1) #"x") (cons 1.5 "y")))) 
                  (msgpack-map (list (cons '(1) #"x") (cons 1.5 "y"))))
    (check-equal? (msgpack-map-ref (msgpack-map '((1 . "one"))) 1) "one")
    (for ([n '(1 2 4 8 16 0 3 17 255 256 65536)])
      (define e (msgpack-ext -1 (make-bytes n 7)))
      (check-equal? (rt e) e))
    (check-equal? (msgpack-encode (msgpack-ext 5 #"abcd")) (bytes #xd6 5 97 98 99 100))
    (check-equal? (msgpack-decode (bytes #xc7 1 #xff 9)) (msgpack-ext -1 #"\t"))
    (check-equal? (msgpack-decode (bytes #xca #x3d #xcc #xcc #xcd)) (exact->inexact 13421773/134217728)) ; float32 nearest 0.1
    (check-equal? (msgpack-decode (bytes #xca #x3d #xcc #xcc #xcd)) 0.10000000149011612)
    (check-equal? (msgpack-encode +nan.0) (bytes #xcb #x7f #xf8 0 0 0 0 0 0))
    (for ([v (list 'foo 1/3 (void) (cons 1 2) (msgpack-ext 200 #""))])
      (check-exn exn:fail:frame:encode? (λ () (msgpack-encode v)) (format "~e" v)))
    ;; deep nesting
    (define deep (for/fold ([v 'null]) ([k 10000]) (list v)))
    (check-equal? (rt deep) deep))

  (test-case "msgpack: truncated inside nested values"
    (define full (msgpack-encode (list "abc" (msgpack-map '((1 . #"xyz"))) 2.5)))
    (for ([cut (in-range 1 (bytes-length full))])
      (define-values (msgs err) (read-all read-msgpack-frame (subbytes full 0 cut)))
      (check-equal? msgs '())
      (check-pred exn:fail:frame:truncated? err)
      (check-equal? (exn:fail:frame:truncated-buffered err) cut)))

  (test-case "lenprefix: widths, byte orders, truncation"
    (for* ([w '(1 2 4 8)] [bo '(big little)])
      (define payload (make-bytes (if (= w 1) 255 1000) 42))
      (define frame (lenprefix-encode payload #:width w #:byteorder bo))
      (check-equal? (bytes-length frame) (+ w (bytes-length payload)))
      (check-equal? (lenprefix-decode frame #:width w #:byteorder bo) payload)
      (define-values (msgs err)
        (read-all (λ (in) (read-lenprefix-frame in #:width w #:byteorder bo))
                  (subbytes frame 0 (- (bytes-length frame) 1))))
      (check-equal? (exn:fail:frame:truncated-buffered err) (- (bytes-length frame) 1)))
    (check-exn exn:fail:frame:encode? (λ () (lenprefix-encode (make-bytes 65536) #:width 2)))))
