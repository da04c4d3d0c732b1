-- wrk: POST Example.Call on a new connection each time (Connection: close).
wrk.method = "POST"
wrk.body   = '{"name":"Hobo"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"] = "close"
