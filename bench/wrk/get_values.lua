-- GET <path>?value=<v> cycling through the lines of the file named by BENCH_VALUES.
local values = {}
for line in io.lines(os.getenv("BENCH_VALUES")) do values[#values + 1] = line end
local path = os.getenv("BENCH_PATH")
local i = 0
request = function()
  i = i % #values + 1
  return wrk.format("GET", path .. "?value=" .. values[i])
end
