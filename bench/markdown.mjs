// `node bench/markdown.mjs [results.json]`: prints the tables of a run as
// Markdown, for bench/README.md and the README (the figures are the run's,
// never edited by hand).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { BENCH_DIR } from './lib/common.mjs'
import { criterionTable, foreignTable, latencyTable, memoryTable, probeTable, producersSummary, summaryTable, targetsTable } from './lib/report.mjs'

const file = process.argv[2] ?? join(BENCH_DIR, 'results', 'results.json')
const results = JSON.parse(readFileSync(file, 'utf8'))
const sections = [
  ['Machine', results.machine ? '```\n' + JSON.stringify(results.machine, null, 2) + '\n```' : undefined],
  ['Throughput', results.throughput?.length ? summaryTable(results.throughput, true) : undefined],
  ['Producers', results.throughput?.length ? producersSummary(results.throughput) || undefined : undefined],
  ['(d) foreign library', results.foreign?.length ? foreignTable(results.foreign, true) : undefined],
  ['Latency', results.latency?.length ? latencyTable(results.latency, true) : undefined],
  ['Machine probe', probeTable(results, true)],
  ['Memory', results.memory ? memoryTable(results.memory, true) : undefined],
  ['Producer cost (criterion)', results.criterion?.length ? criterionTable(results.criterion, true) : undefined],
  ['Targets', results.targets?.length ? targetsTable(results.targets, true) : undefined],
]
for (const [title, body] of sections) if (body !== undefined) console.log(`### ${title}\n\n${body}\n`)
