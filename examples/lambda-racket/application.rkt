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
;; Tagged mode (`tagged = true` in stdiobridge.toml; the host then sets STDIOBRIDGE_TAGGED=1 in
;; our environment): each line is "<id> <json>" and the answer must be "<id> <json>" with the same
;; id. The host pairs answers by id, so an invocation that timed out does not cost a restart:
;; its late answer is dropped and this process serves the next invocation.
;;
;; The "real work": a word count of event.text and a greeting for event.name; event.work_ms
;; (optional) stands for slow work: the answer is delayed by that many milliseconds.
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
  (define work-ms (field event 'work_ms 0))
  (when (and (real? work-ms) (positive? work-ms))
    (sleep (/ (min work-ms 60000) 1000.0)))
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

;; Tagged mode: exactly "1" turns it on (anything else, or unset, is untagged).
(define (tagged-mode?)
  (equal? (getenv "STDIOBRIDGE_TAGGED") "1"))

;; A tagged line "<id> <text>" -> the id's digits and the text. A line without an id cannot be
;; answered (the host could not pair the answer): that is fatal, a reason on stderr and exit 1.
(define (untag line)
  (define m (regexp-match #px"^([1-9][0-9]{0,9}) (.*)$" line))
  (unless m
    (eprintf "application: tagged mode, but the request has no \"<id> \": ~e\n" line)
    (exit 1))
  (values (cadr m) (caddr m)))

(module+ main
  (define out (current-output-port))
  (define tagged? (tagged-mode?))
  (let loop ()
    (define line (read-line (current-input-port) 'linefeed))
    (unless (eof-object? line)
      (define-values (id text)
        (if tagged? (untag (string-trim line "\r" #:left? #f)) (values #f line)))
      (define response
        (with-handlers ([exn:fail? (λ (e)
                                     (eprintf "application: bad request: ~a\n" (exn-message e))
                                     (hasheq 'error (exn-message e)))])
          (handle (string->jsexpr (string-trim text "\r" #:left? #f)))))
      (when id
        (write-string id out)     ; the request's id, copied as it came
        (write-char #\space out))
      (write-json response out)   ; strings escape LF, so one value is one line
      (newline out)
      (flush-output out)          ; the answer must leave the buffer now
      (loop))))
