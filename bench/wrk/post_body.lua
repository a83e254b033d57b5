-- POST the JSON file named by BENCH_BODY to BENCH_PATH.
local file = io.open(os.getenv("BENCH_BODY"), "r")
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
