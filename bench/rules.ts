// The detection load of the benchmark's detection phases: 200 Sigma rules (keyword, field,
// wildcard and regular-expression rules) and 5 correlations, as models to create through the API.
// Every rule's logsource applies to every record (the worst case: no routing spares any rule),
// and a few rules match the benchmark's records (bench/data.ts), as a real pack matches some.
const TERMS = [
  'mimikatz', 'sekurlsa', 'lsadump', 'procdump', 'psexec', 'cobaltstrike', 'beacon.dll', 'rundll32', 'regsvr32', 'certutil',
  'bitsadmin', 'wmic shadowcopy', 'vssadmin delete', 'bcdedit', 'nltest', 'dsquery', 'adfind', 'bloodhound', 'sharphound', 'rubeus',
  'kerberoast', 'golden ticket', 'dcsync', 'ntds.dit', 'lazagne', 'netcat', 'ncat', 'socat', 'reverse shell', 'meterpreter',
  'empire', 'covenant', 'sliver', 'havoc', 'chisel', 'frp', 'ngrok', 'tor2web', 'xmrig', 'stratum+tcp'
]
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima']

/** A rule as Sigma YAML. */
function rule(n: number, detection: string, level = 'medium', extra = ''): string {
  return `title: Bench rule ${n}
id: bench-rule-${n}
name: bench_rule_${n}
level: ${level}
tags: [attack.execution]
logsource: {}
detection:
${detection}
${extra}`
}

function ruleOf(n: number): string {
  const t = (i: number) => TERMS[(n + i) % TERMS.length]
  const w = (i: number) => WORDS[(n + i) % WORDS.length]
  switch (n % 10) {
    case 0:
    case 1:
    case 2:
      return rule(n, `  keywords:\n    - '${t(0)}'\n    - '${t(1)}'\n    - '${t(2)} ${w(0)}'\n  condition: keywords`)
    case 3:
    case 4:
      return rule(n, `  selection:\n    message|contains|all:\n      - '${t(0)}'\n      - '${w(1)}'\n    severity: [High, Critical]\n  condition: selection`)
    case 5:
      return rule(n, `  selection:\n    source|startswith: 'dc-${w(0)}'\n  filter:\n    host|endswith: '.${w(1)}.example.net'\n  condition: selection and not filter`)
    case 6:
      return rule(n, `  selection:\n    message: '*${t(0)}*${w(2)}?*'\n  condition: selection`)
    case 7:
      return rule(n, `  selection:\n    message|re: '(?i)${t(0).replace(/[.+]/g, '\\\\$&')}\\s+-(enc|e|ec)\\s+[A-Za-z0-9+/=]{${20 + (n % 7)},}'\n  condition: selection`, 'high')
    case 8:
      return rule(n, `  selection:\n    host|re: '^${w(0)}-[0-9]{2,3}\\.'\n    event_type: malware\n  condition: selection`)
    default:
      return rule(n, `  selection:\n    message|startswith: '${t(3)} '\n  condition: selection`, 'low')
  }
}

/**
 * Rules that match some of the benchmark's records, read by the correlations: about 14 % of the
 * records feed a correlation (failed logins of a service account, blocked RDP, a malware family,
 * sign-ins from one country), as failed authentications and blocked connections do in real logs.
 */
const MATCHING = [
  rule(1001, "  keywords:\n    - 'failed logins for user svc-backup'\n  condition: keywords", 'low'),
  rule(1002, "  selection:\n    message|contains|all: ['quarantined payload.dll', 'Trojan.Gen.9']\n  condition: selection", 'medium'),
  rule(1003, "  selection:\n    message|re: 'signed in from new country KP'\n  condition: selection", 'high'),
  rule(1004, "  selection:\n    message|startswith: 'Blocked TCP connection'\n    message|contains: ':3389 '\n  condition: selection", 'low'),
  rule(1005, "  selection:\n    message|contains: 'signature Trojan.Gen.9'\n  condition: selection", 'medium')
]

const CORRELATIONS = `title: Bench brute force per source
correlation: {type: event_count, rules: [bench_rule_1001], group-by: [source], timespan: 5m, condition: {gte: 50}}
level: high
---
title: Bench malware per host
correlation: {type: event_count, rules: [bench_rule_1002], group-by: [host], timespan: 1h, condition: {gte: 1000}}
level: high
---
title: Bench countries per source
correlation: {type: value_count, rules: [bench_rule_1003], group-by: [source], timespan: 1h, condition: {gte: 1000, field: message}}
level: high
---
title: Bench RDP blocks per source
correlation: {type: value_count, rules: [bench_rule_1004], group-by: [source], timespan: 1h, condition: {gte: 1000, field: host}}
level: high
---
title: Bench malware then failed logins
correlation: {type: temporal, rules: [bench_rule_1005, bench_rule_1001], group-by: [source], timespan: 10s}
level: critical`

/** A rule the benchmark's probe event matches (level medium): it tells when the models run. */
export const PROBE_TEXT = 'vigil-bench-probe'
const PROBE = rule(2000, `  keywords:\n    - '${PROBE_TEXT}'\n  condition: keywords`, 'medium')

export const BENCH_RULES = 200
export const BENCH_CORRELATIONS = 5

/** The models: 39 of five rules each (the probe among them), and one of the five matching rules with the five correlations. */
export function benchModels(): { name: string; model_type: 'sigma'; definition: string }[] {
  const out: { name: string; model_type: 'sigma'; definition: string }[] = []
  const rules = [...Array.from({ length: BENCH_RULES - MATCHING.length - 1 }, (_, n) => ruleOf(n)), PROBE]
  for (let i = 0; i < rules.length; i += 5) out.push({ name: `bench rules ${i / 5 + 1}`, model_type: 'sigma', definition: rules.slice(i, i + 5).join('---\n') })
  out.push({ name: 'bench correlations', model_type: 'sigma', definition: `${MATCHING.join('---\n')}---\n${CORRELATIONS}\n` })
  return out
}
