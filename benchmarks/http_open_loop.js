// Open-loop HTTP load at a fixed arrival rate (what wrk2 does; wrk2 is not packaged for Debian,
// and autocannon's --overallRate sends each connection's quota back-to-back at the start of
// every second, which is bursts, not a fixed rate).
//
// Request i is due at start + i / rate whatever the server is doing; its latency is measured
// from that due time (so a slow server cannot hide its queue: no coordinated omission) and,
// separately, from the moment it was written. Keep-alive connections, at most --connections.
//
//   node benchmarks/http_open_loop.js URL_BASE PATHS_FILE RATE SECONDS CONNECTIONS [TOKEN]
//
// Prints one JSON object: sent, ok, errors, achieved rate, latency percentiles in ms.
'use strict'
const http = require('http')
const fs = require('fs')

const [base, pathsFile, rateArg, secondsArg, connectionsArg, token] = process.argv.slice(2)
const url = new URL(base)
const paths = fs.readFileSync(pathsFile, 'utf8').trim().split('\n')
const rate = Number(rateArg)
const total = Math.round(rate * Number(secondsArg))
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connectionsArg) })
const headers = token ? { Authorization: `Bearer ${token}` } : {}
const fromDue = []
const fromSend = []
let sent = 0
let done = 0
let ok = 0
let errors = 0
const start = performance.now()

function fire (i) {
  const due = start + (i * 1000) / rate
  const request = http.request({
    agent, host: url.hostname, port: url.port, path: paths[i % paths.length], headers
  }, (response) => {
    response.resume()
    response.on('end', () => {
      const now = performance.now()
      if (response.statusCode === 200) {
        ok++
        fromDue.push(now - due)
        fromSend.push(now - written)
      } else {
        errors++
      }
      finish()
    })
  })
  let written = performance.now()
  request.on('socket', () => { written = performance.now() })
  request.on('error', () => { errors++; finish() })
  request.end()
}

function finish () {
  done++
  if (done === total) report()
}

function tick () {
  const now = performance.now()
  while (sent < total && start + (sent * 1000) / rate <= now) fire(sent++)
  // Sleep until the next request is due (timers have 1 ms resolution: a request may leave up
  // to ~1 ms late, and that lateness counts in its latency from the due time).
  if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - now))
}

function percentile (sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null
}

function report () {
  const elapsed = (performance.now() - start) / 1000
  const due = fromDue.sort((a, b) => a - b)
  const send = fromSend.sort((a, b) => a - b)
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000)
  console.log(JSON.stringify({
    sent: total,
    ok,
    errors,
    seconds: round(elapsed),
    achieved_rate: round(ok / elapsed),
    p50_ms: round(percentile(due, 50)),
    p90_ms: round(percentile(due, 90)),
    p99_ms: round(percentile(due, 99)),
    max_ms: round(due[due.length - 1] ?? null),
    p50_from_send_ms: round(percentile(send, 50)),
    p99_from_send_ms: round(percentile(send, 99))
  }))
  agent.destroy()
}

tick()
