// Prometheus text exposition (0.0.4), parsed strictly enough to fail a test
// on any line a scraper would reject.
import * as assert from 'uvu/assert';

/** One sample of a Prometheus text exposition. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const PROMETHEUS_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';

const PROMETHEUS_HELP = new RegExp(`^# HELP (${PROMETHEUS_NAME}) (.*)$`);

const PROMETHEUS_TYPE = new RegExp(`^# TYPE (${PROMETHEUS_NAME}) (counter|gauge|summary|histogram|untyped)$`);

const PROMETHEUS_SAMPLE = new RegExp(`^(${PROMETHEUS_NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*)\\})? (\\S+)$`);

const PROMETHEUS_LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g;

/**
 * Parses Prometheus text exposition (0.0.4), failing the test on any line
 * that is not valid: every line is a HELP, a TYPE or a sample; each family
 * has HELP then TYPE once, before its samples; counters end in _total;
 * summary samples are the family's quantiles, _sum and _count; every value
 * is a number.
 */
export function parsePrometheus(text: string): { samples: PrometheusSample[]; types: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: PrometheusSample[] = [];
  let family: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = PROMETHEUS_HELP.exec(line);
    const type = PROMETHEUS_TYPE.exec(line);
    const sample = PROMETHEUS_SAMPLE.exec(line);
    if (help) {
      assert.not.ok(helped.has(help[1]!), `HELP for ${help[1]} twice`);
      helped.add(help[1]!);
      family = help[1]!;
    } else if (type) {
      assert.is(type[1], family, `TYPE ${type[1]} follows its HELP`);
      assert.not.ok(types.has(type[1]!), `TYPE for ${type[1]} twice`);
      types.set(type[1]!, type[2]!);
      if (type[2] === 'counter') assert.ok(type[1]!.endsWith('_total'), `counter ${type[1]} ends in _total`);
    } else {
      assert.ok(sample, `not a valid line: ${JSON.stringify(line)}`);
      const name = sample![1]!;
      const labels: Record<string, string> = {};
      for (const [, key, value] of (sample![2] ?? '').matchAll(PROMETHEUS_LABEL)) labels[key!] = value!;
      const kind = types.get(family ?? '');
      assert.ok(kind !== undefined, `sample ${name} before any TYPE`);
      if (kind === 'summary') {
        assert.ok([family, `${family}_sum`, `${family}_count`].includes(name), `${name} belongs to summary ${family}`);
        if (name === family) assert.ok(labels['quantile'] !== undefined, `${name} has a quantile`);
      } else assert.is(name, family, `sample ${name} belongs to family ${family}`);
      const value = Number(sample![3] === '+Inf' ? Infinity : sample![3] === '-Inf' ? -Infinity : sample![3]);
      assert.ok(!Number.isNaN(value) || sample![3] === 'NaN', `${name}: ${sample![3]} is a number`);
      samples.push({ name, labels, value });
    }
  }
  return { samples, types };
}

/** The value of the one sample named `name` (with `labels` among its labels). */
export function prometheusValue(samples: readonly PrometheusSample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.is(found.length, 1, `one sample ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}
