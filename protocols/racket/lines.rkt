#lang racket/base
;; lines.rkt -- the `lines` codec of stdiobridge.
;;
;; A message is a string; a frame is its UTF-8 encoding followed by LF.
;; Decoding splits on LF only and removes ONE CR directly before the LF.
;; Invalid UTF-8 is a DecodeError. max-frame counts the bytes of the line
;; without its line ending (so a line of exactly max-frame bytes + CR + LF is
;; accepted); a longer line is refused as soon as max-frame + 2 bytes without a
;; LF (or max-frame + 1 bytes not ending in CR) have been seen, before buffering
;; the rest.
;;
;;   (read-line-frame in)        -> string or eof
;;   (read-line-frame-bytes in)  -> bytes (no UTF-8 check) or eof
;;   (write-line-frame str out)  writes str + LF and flushes out
;;   (write-line-frame-bytes bs out)
;;   (lines-encode str) / (lines-decode bs)  one frame <-> message, in memory
;; All take #:max-frame (default 64 MiB).

(require "source.rkt" "frame.rkt")

(provide read-line-frame read-line-frame-bytes
         write-line-frame write-line-frame-bytes
         lines-encode lines-decode
         (all-from-out "frame.rkt"))

(define CR 13)
(define LF 10)

(define (read-line-frame-bytes in #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (check-max-frame 'read-line-frame-bytes max-frame)
  (define s (make-src in (+ max-frame 2)))
  (cond
    [(not (src-start! s)) eof]
    [else
     ;; The LF of an acceptable line is at index <= max-frame + 1.
     (define scan-limit (+ max-frame 2))
     (let loop ([scanned 0])
       (define end (min (src-end s) scan-limit))
       (define buf (src-buf s))
       (define lf (find-lf buf scanned end))
       (cond
         [lf
          (define len (if (and (> lf 0) (= (bytes-ref buf (- lf 1)) CR)) (- lf 1) lf))
          (when (> len max-frame) (raise-too-large len max-frame))
          (define line (subbytes buf 0 len))
          (src-consume! s (+ lf 1))
          line]
         [(>= end scan-limit)
          (raise-too-large end max-frame #:at-least? #t)]
         [(and (> end max-frame) (not (= (bytes-ref buf max-frame) CR)))
          ;; max-frame + 1 bytes and no CR that could end the line there
          (raise-too-large end max-frame #:at-least? #t)]
         [(src-fill! s) (loop end)]
         [else (raise-truncated (src-end s))]))]))

(define (bytes->string/utf-8* bs)
  (or (utf-8->string/strict bs)
      (raise-decode-error "line is not valid UTF-8")))

(define (read-line-frame in #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define bs (read-line-frame-bytes in #:max-frame max-frame))
  (if (eof-object? bs) eof (bytes->string/utf-8* bs)))

;; Encoding checks: no LF, no trailing CR (it would not survive the round
;; trip), at most max-frame bytes.
(define (check-line-bytes bs max-frame)
  (define n (bytes-length bs))
  (when (find-lf bs 0 n)
    (raise-encode-error "a lines message cannot contain LF"))
  (when (and (> n 0) (= (bytes-ref bs (- n 1)) CR))
    (raise-encode-error "a lines message cannot end with CR"))
  (when (> n max-frame)
    (raise-encode-error "message of ~a bytes exceeds max-frame ~a" n max-frame)))

(define (write-line-frame-bytes bs out #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (unless (bytes? bs) (raise-encode-error "lines message must be bytes, got ~e" bs))
  (check-line-bytes bs max-frame)
  (write-bytes bs out)
  (write-bytes #"\n" out)
  (flush-output out))

(define (write-line-frame str out #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (unless (string? str) (raise-encode-error "lines message must be a string, got ~e" str))
  (write-line-frame-bytes (string->utf-8 str) out #:max-frame max-frame))

;; In-memory helpers.
(define (lines-encode str #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (unless (string? str) (raise-encode-error "lines message must be a string, got ~e" str))
  (define bs (string->utf-8 str))
  (check-line-bytes bs max-frame)
  (bytes-append bs #"\n"))

(define (lines-decode frame #:max-frame [max-frame DEFAULT-MAX-FRAME])
  (define in (open-input-bytes frame))
  (define v (read-line-frame in #:max-frame max-frame))
  (when (eof-object? v) (raise-truncated 0))
  (unless (eof-object? (peek-byte in))
    (raise-decode-error "extra bytes after the frame"))
  v)
