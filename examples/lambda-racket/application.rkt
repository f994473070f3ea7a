#lang racket/base
;; application.rkt -- the user's logic behind an AWS Lambda function, served by stdiobridge.
;;
;; stdiobridge starts this program ONCE, in the Lambda init phase, and then sends
;; it one line per invocation (codec "lines"): the JSON text of
;;   {"event": <the Lambda event>, "context": {"aws_request_id": ..., "remaining_time_in_millis": ..., ...}}
;; It answers each line with exactly one JSON line, and flushes: an answer left
;; in Racket's stdout buffer never reaches the host. Logs go to stderr only.
;; EOF on stdin: exit 0.
;;
;; The "real work": a word count of event.text and a greeting for event.name.
;;   echo '{"event":{"name":"Ada","text":"to be or not to be"},"context":null}' | racket application.rkt

(require json
         racket/list
         racket/string)

(provide handle)

;; The TOP most frequent words of TEXT, as (list (list word count) ...), ties in first-seen order.
(define (top-words words top)
  (define counts (make-hash))
  (define order '())
  (for ([w (in-list words)])
    (unless (hash-ref counts w #f) (set! order (cons w order)))
    (hash-update! counts w add1 0))
  (define ranked
    (sort (reverse order) > #:key (λ (w) (hash-ref counts w)) #:cache-keys? #t))
  (for/list ([w (in-list (take ranked (min top (length ranked))))])
    (list w (hash-ref counts w))))

(define (field table key default)
  (if (hash? table) (hash-ref table key default) default))

;; One request (a jsexpr) -> one response (a jsexpr).
(define (handle request)
  (define event (field request 'event (hasheq)))
  (define context (field request 'context (json-null)))
  (define name (let ([n (field event 'name "world")]) (if (string? n) n "world")))
  (define text (let ([t (field event 'text "")]) (if (string? t) t "")))
  (define words
    (for/list ([w (in-list (string-split (string-downcase text)))]
               #:when (regexp-match? #px"[[:alnum:]]" w))
      (regexp-replace* #px"^[^[:alnum:]]+|[^[:alnum:]]+$" w "")))
  (hasheq 'greeting (format "Hello, ~a!" name)
          'words (length words)
          'distinct (length (remove-duplicates words))
          'characters (string-length text)
          'top (top-words words 3)
          'request_id (field context 'aws_request_id (json-null))
          'remaining_ms (field context 'remaining_time_in_millis (json-null))))

(module+ main
  (define out (current-output-port))
  (let loop ()
    (define line (read-line (current-input-port) 'linefeed))
    (unless (eof-object? line)
      (define response
        (with-handlers ([exn:fail? (λ (e)
                                     (eprintf "application: bad request: ~a\n" (exn-message e))
                                     (hasheq 'error (exn-message e)))])
          (handle (string->jsexpr (string-trim line "\r" #:left? #f)))))
      (write-json response out)   ; strings escape LF, so one value is one line
      (newline out)
      (flush-output out)          ; the answer must leave the buffer now
      (loop))))
