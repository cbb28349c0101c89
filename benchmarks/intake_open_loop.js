// Open-loop POSTs at a fixed arrival rate (wrk2's model; wrk2 is not packaged for Debian):
// the client of benchmarks/intake_open_loop_bench.py.
//
// Report i is due at start + i / rate whatever the server is doing, and its latency is
// measured from that due time — a slow server cannot hide its queue (no coordinated
// omission). Keep-alive connections, at most CONNECTIONS open; a report due while all are
// busy waits for one, and that wait counts in its latency. Every id the server acknowledged
// (201 with {"id": N, ...}) is written, one a line, to IDS_FILE, to be checked against the
// table afterwards. Node's own http module: nothing to install.
//
//   node benchmarks/intake_open_loop.js URL PATH BODIES_FILE RATE SECONDS CONNECTIONS TOKEN IDS_FILE [DRAIN]
//
// DRAIN (default 30): seconds to wait after the last send for the answers still out; those
// not in by then count as errors ("unanswered"), so an overloaded server ends the run.
// BODIES_FILE holds one JSON body a line, sent in turn. Prints one JSON object: sent, ok
// (201), errors by status, achieved rate (201s per second of the run), latency percentiles
// from the due time and from the write, and the client's own CPU (user + system seconds and
// cores used: it shares the machine with the server).
'use strict'
const http = require('http')
const fs = require('fs')

const [base, path, bodiesFile, rateArg, secondsArg, connectionsArg, token, idsFile, drainArg] =
  process.argv.slice(2)
const drain = Number(drainArg || 30)
const url = new URL(base)
const bodies = fs.readFileSync(bodiesFile, 'utf8').trim().split('\n').map((b) => Buffer.from(b))
const rate = Number(rateArg)
const total = Math.round(rate * Number(secondsArg))
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connectionsArg) })
const fromDue = []
const fromWrite = []
const ids = []
const statuses = {}
let sent = 0
let done = 0
let ok = 0
let errors = 0
let reported = false
let late = 0 // sends that left more than 5 ms after their due time (the client fell behind)
const cpuStart = process.cpuUsage()
const start = performance.now()

function fire (i) {
  const due = start + (i * 1000) / rate
  if (performance.now() - due > 5) late++
  const body = bodies[i % bodies.length]
  let written = performance.now()
  const request = http.request({
    agent,
    host: url.hostname,
    port: url.port,
    path,
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      'Content-Length': body.length
    }
  }, (response) => {
    const chunks = []
    response.on('data', (chunk) => chunks.push(chunk))
    response.on('end', () => {
      const now = performance.now()
      if (response.statusCode === 201) {
        const id = /^\{"id":(\d+),/.exec(Buffer.concat(chunks).toString('utf8', 0, 40))
        if (id) {
          ok++
          ids.push(id[1])
          fromDue.push(now - due)
          fromWrite.push(now - written)
        } else {
          errors++
          statuses.no_id = (statuses.no_id || 0) + 1
        }
      } else {
        errors++
        statuses[response.statusCode] = (statuses[response.statusCode] || 0) + 1
      }
      finish()
    })
  })
  request.on('socket', () => { written = performance.now() })
  request.on('error', (err) => {
    errors++
    statuses[err.code || 'error'] = (statuses[err.code || 'error'] || 0) + 1
    finish()
  })
  request.end(body)
}

function finish () {
  done++
  if (done === total) report()
}

function giveUp () {
  if (reported) return
  const missing = total - done
  errors += missing
  statuses.unanswered = missing
  report()
}

function tick () {
  const now = performance.now()
  while (sent < total && start + (sent * 1000) / rate <= now) fire(sent++)
  // Sleep until the next report is due (timers have 1 ms resolution: a report may leave up
  // to ~1 ms late, and that lateness counts in its latency from the due time).
  if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - now))
  else setTimeout(giveUp, drain * 1000).unref()
}

function percentile (sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null
}

function report () {
  if (reported) return
  reported = true
  const elapsed = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpuStart)
  const due = fromDue.sort((a, b) => a - b)
  const write = fromWrite.sort((a, b) => a - b)
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000)
  fs.writeFileSync(idsFile, ids.join('\n') + '\n')
  console.log(JSON.stringify({
    rate,
    sent: total,
    ok,
    errors,
    statuses,
    late_sends: late,
    seconds: round(elapsed),
    achieved_rate: round(ok / elapsed),
    p50_ms: round(percentile(due, 50)),
    p90_ms: round(percentile(due, 90)),
    p99_ms: round(percentile(due, 99)),
    max_ms: round(due.length ? due[due.length - 1] : null),
    p50_from_write_ms: round(percentile(write, 50)),
    p99_from_write_ms: round(percentile(write, 99)),
    client_cpu_s: round((cpu.user + cpu.system) / 1e6),
    client_cores: round((cpu.user + cpu.system) / 1e6 / elapsed)
  }))
  agent.destroy()
  process.exit(0)
}

tick()
