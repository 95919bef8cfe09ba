// `mixlab datasets build`: fetch, extract, clean, de-duplicate, cap, split and write each domain
// as JSONL (`{text, domain, source}`) under `<out>/train/` and `<out>/heldout/`, plus a
// manifest.json (package versions, record counts, bytes, SHA-256 of each file, licences).
// Deterministic: the same packages give byte-identical files. Re-running skips domains whose
// files match the manifest; every file is written under a temporary name and renamed.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants as zc } from "node:zlib";
import { writeFileAtomic } from "../io/atomic.js";
import { DOMAINS, type DomainSpec } from "./domains.js";
import { capSize, dedupe, isHeldOut, type CorpusRecord } from "./text.js";
import { hasCommand } from "./fetch.js";
import { InputError, MixError } from "../errors.js";

export const MANIFEST_FORMAT = "mixlab.corpus/v1";

/** One built domain in the manifest. */
export interface ManifestDomain {
  readonly name: string;
  readonly standsFor: string;
  readonly shippable: boolean;
  readonly records: { readonly train: number; readonly heldout: number };
  readonly bytes: { readonly train: number; readonly heldout: number };
  readonly files: { readonly train: string; readonly heldout: string };
  readonly sha256: { readonly train: string; readonly heldout: string };
  readonly packages: readonly {
    readonly name: string;
    readonly version: string;
    readonly origin: string;
    readonly licence: string;
  }[];
  readonly duplicatesDropped: number;
  readonly cappedFromBytes: number | null;
}

/** The manifest. */
export interface CorpusManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly heldOutRule: string;
  readonly maxBytesPerDomain: number;
  readonly domains: ManifestDomain[];
  readonly notBuilt: { readonly name: string; readonly reason: string }[];
}

/** Options of `buildCorpus`. */
export interface BuildOptions {
  readonly out: string;
  /** Domains to build (default all ten). */
  readonly domains?: readonly string[];
  /** Cap on each domain's text, MB (default 16). */
  readonly maxMb?: number;
  /** Package cache (default <out>/.cache). */
  readonly cache?: string;
  /** Write .jsonl.br instead of .jsonl (the shipped sample). */
  readonly compress?: boolean;
  /** Only domains marked shippable (the shipped sample). */
  readonly shippableOnly?: boolean;
  /** Rebuild even when the files match the manifest. */
  readonly force?: boolean;
  /** Seed of the size caps (default 0). */
  readonly seed?: number;
  /** Progress lines (default: stderr). */
  readonly progress?: (line: string) => void;
}

export const HELD_OUT_RULE =
  "a record is held out when the first byte of SHA-256(text) is below 13 (about 5.1%); " +
  "the rule depends on the text only";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

function encode(records: readonly CorpusRecord[], domain: string, compress: boolean): Buffer {
  const text =
    records.map((r) => JSON.stringify({ text: r.text, domain, source: r.source })).join("\n") +
    (records.length ? "\n" : "");
  const raw = Buffer.from(text, "utf8");
  // Fixed brotli parameters so the bytes are reproducible.
  return compress
    ? brotliCompressSync(raw, {
        params: {
          [zc.BROTLI_PARAM_QUALITY]: 9,
          [zc.BROTLI_PARAM_LGWIN]: 22,
          [zc.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      })
    : raw;
}

/** Reads an existing manifest, or null. */
export function readManifest(out: string): CorpusManifest | null {
  const p = join(out, "manifest.json");
  if (!existsSync(p)) return null;
  try {
    const m = JSON.parse(readFileSync(p, "utf8")) as CorpusManifest;
    return m.format === MANIFEST_FORMAT ? m : null;
  } catch {
    return null;
  }
}

function fileMatches(out: string, rel: string, sha: string): boolean {
  const p = join(out, rel);
  return existsSync(p) && sha256(readFileSync(p)) === sha;
}

/**
 * Builds the corpus. Domains that cannot be built here (no apt, a failed download) are listed
 * with the reason in the manifest and returned; the others are built.
 */
export async function buildCorpus(o: BuildOptions): Promise<CorpusManifest> {
  const log = o.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
  const wanted = o.domains ?? DOMAINS.map((d) => d.name);
  const unknown = wanted.filter((d) => !DOMAINS.some((s) => s.name === d));
  if (unknown.length) throw new InputError(
    "--domains",
    `expected some of ${DOMAINS.map((d) => d.name).join(", ")}, got unknown ${unknown.join(", ")}`,
  );
  const maxBytes = Math.round((o.maxMb ?? 16) * 1024 * 1024);
  const cache = o.cache ?? join(o.out, ".cache");
  const ext = o.compress ? ".jsonl.br" : ".jsonl";
  mkdirSync(join(o.out, "train"), { recursive: true });
  mkdirSync(join(o.out, "heldout"), { recursive: true });
  const previous = readManifest(o.out);
  const apt = (await hasCommand("apt-get")) && (await hasCommand("dpkg-deb"));
  const built: ManifestDomain[] = [];
  const notBuilt: { name: string; reason: string }[] = [];
  const specs: DomainSpec[] = DOMAINS.filter((d) => wanted.includes(d.name) && (!o.shippableOnly || d.shippable));
  for (const spec of specs) {
    const prev = previous?.domains.find((d) => d.name === spec.name);
    if (
      !o.force &&
      prev &&
      prev.files.train.endsWith(ext) &&
      previous!.maxBytesPerDomain === maxBytes &&
      fileMatches(o.out, prev.files.train, prev.sha256.train) &&
      fileMatches(o.out, prev.files.heldout, prev.sha256.heldout)
    ) {
      log(`${spec.name.padEnd(13)} up to date (${prev.records.train} + ${prev.records.heldout} records)`);
      built.push(prev);
      continue;
    }
    if (spec.needsApt && !apt) {
      notBuilt.push({
        name: spec.name,
        reason: "needs Debian packages, and apt-get/dpkg-deb are not available on this machine",
      });
      log(`${spec.name.padEnd(13)} skipped: needs apt-get and dpkg-deb`);
      continue;
    }
    const t0 = performance.now();
    let b;
    try {
      b = await spec.build(cache);
    } catch (e) {
      if (e instanceof MixError) {
        notBuilt.push({ name: spec.name, reason: e.message });
        log(`${spec.name.padEnd(13)} not built: ${e.message}`);
        continue;
      }
      throw e;
    }
    const fetched = performance.now();
    const { records: unique, dropped } = dedupe(b.records);
    let total = 0;
    for (const r of unique) total += Buffer.byteLength(r.text);
    const capped = capSize(unique, maxBytes, o.seed ?? 0);
    const train = capped.filter((r) => !isHeldOut(r.text));
    const heldout = capped.filter((r) => isHeldOut(r.text));
    const trainBuf = encode(train, spec.name, o.compress ?? false);
    const heldBuf = encode(heldout, spec.name, o.compress ?? false);
    const files = { train: `train/${spec.name}${ext}`, heldout: `heldout/${spec.name}${ext}` };
    writeFileAtomic(join(o.out, files.train), trainBuf);
    writeFileAtomic(join(o.out, files.heldout), heldBuf);
    const bytes = (rs: CorpusRecord[]) => rs.reduce((a, r) => a + Buffer.byteLength(r.text), 0);
    const entry: ManifestDomain = {
      name: spec.name,
      standsFor: spec.standsFor,
      shippable: spec.shippable,
      records: { train: train.length, heldout: heldout.length },
      bytes: { train: bytes(train), heldout: bytes(heldout) },
      files,
      sha256: { train: sha256(trainBuf), heldout: sha256(heldBuf) },
      packages: b.packages.map((p) => ({
        name: p.name,
        version: p.version,
        origin: p.origin,
        licence: b.licences[p.name] ?? "see the package",
      })),
      duplicatesDropped: dropped,
      cappedFromBytes: total > maxBytes ? total : null,
    };
    built.push(entry);
    log(
      `${spec.name.padEnd(13)} fetched ${b.packages.map((p) => `${p.name} ${p.version}`).join(", ")}; ` +
        `${b.records.length} extracted, ${dropped} duplicates, ${train.length} + ${heldout.length} records, ` +
        `${((bytes(train) + bytes(heldout)) / 2 ** 20).toFixed(1)} MB` +
        `${total > maxBytes ? ` (capped from ${(total / 2 ** 20).toFixed(1)} MB)` : ""} ` +
        `in ${((performance.now() - t0) / 1000).toFixed(1)} s (fetch+extract ${((fetched - t0) / 1000).toFixed(1)} s)`,
    );
  }
  // Domains built earlier and not asked for now stay in the manifest while their files match.
  for (const prev of previous?.domains ?? []) {
    if (built.some((b) => b.name === prev.name) || notBuilt.some((n) => n.name === prev.name)) continue;
    if (
      previous!.maxBytesPerDomain === maxBytes &&
      fileMatches(o.out, prev.files.train, prev.sha256.train) &&
      fileMatches(o.out, prev.files.heldout, prev.sha256.heldout)
    )
      built.push(prev);
  }
  const manifest: CorpusManifest = {
    format: MANIFEST_FORMAT,
    heldOutRule: HELD_OUT_RULE,
    maxBytesPerDomain: maxBytes,
    domains: built.sort((a, b) => (a.name < b.name ? -1 : 1)),
    notBuilt,
  };
  writeFileAtomic(join(o.out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  if (notBuilt.length) log(`not built here: ${notBuilt.map((n) => `${n.name} (${n.reason})`).join("; ")}`);
  return manifest;
}
