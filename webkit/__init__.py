"""What the pages and the APIs of every context share: identity and tokens, HTTP auth, page machinery
(sessions, CSRF, layout, errors), formatting, OpenAPI, sub-applications, charts, QR codes, base templates."""
