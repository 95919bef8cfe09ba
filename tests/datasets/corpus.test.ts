// The shipped corpus sample (datasets/corpus) and a real build from packages.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { brotliDecompressSync } from "node:zlib";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { ROOT, tmp } from "../helpers.js";
import { readManifest, buildCorpus } from "../../src/datasets/build.js";
import { isHeldOut, splitText, packUnits, cleanText } from "../../src/datasets/text.js";
import { emailText, metamathText, DOMAINS } from "../../src/datasets/domains.js";
import { corpusStats, jensenShannon } from "../../src/datasets/stats.js";
import { openCorpus } from "../../src/sampler/corpus.js";
import { createSampler } from "../../src/sampler/sampler.js";

const CORPUS = join(ROOT, "datasets", "corpus");
const SHIPPABLE = DOMAINS.filter((d) => d.shippable).map((d) => d.name).sort();

function lines(file: string): { text: string; domain: string; source: string }[] {
  return brotliDecompressSync(readFileSync(join(CORPUS, file)))
    .toString("utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

describe("the shipped sample", () => {
  const manifest = readManifest(CORPUS)!;

  it("has every shippable domain, with records and hashes as in its manifest", () => {
    expect(manifest.domains.map((d) => d.name)).toEqual(SHIPPABLE);
    for (const d of manifest.domains) {
      for (const split of ["train", "heldout"] as const) {
        const buf = readFileSync(join(CORPUS, d.files[split]));
        expect(createHash("sha256").update(buf).digest("hex")).toBe(d.sha256[split]);
        const recs = lines(d.files[split]);
        expect(recs).toHaveLength(d.records[split]);
        expect(
          recs.every((r) => r.domain === d.name && r.text.length > 0 && /^(debian|npm):/.test(r.source)),
        ).toBe(true);
      }
      expect(d.bytes.train + d.bytes.heldout).toBeGreaterThan(1_000_000);
      expect(d.bytes.train + d.bytes.heldout).toBeLessThanOrEqual(1.5 * 2 ** 20);
    }
  });

  it("keeps the held-out split disjoint from training, by its documented rule", () => {
    for (const d of manifest.domains) {
      const train = lines(d.files.train);
      const held = lines(d.files.heldout);
      expect(held.length).toBeGreaterThan(0);
      expect(held.every((r) => isHeldOut(r.text))).toBe(true);
      expect(train.some((r) => isHeldOut(r.text))).toBe(false);
      const trainTexts = new Set(train.map((r) => r.text));
      expect(held.some((r) => trainTexts.has(r.text))).toBe(false);
    }
  });

  it("gives reproducible statistics, with domains that differ", async () => {
    const c = await openCorpus(join(CORPUS, "train"), { cacheDir: join(tmp(), "cache") });
    const a = await corpusStats(c.names, c.sources);
    const b = await corpusStats(c.names, c.sources);
    expect(b).toEqual(a);
    const i = c.names.indexOf("code");
    const j = c.names.indexOf("speeches");
    expect(a.unigram[i]![j]!).toBeGreaterThan(0.3);
    expect(a.bigram[i]![j]!).toBeGreaterThan(a.bigram[c.names.indexOf("literature")]![j]!);
  });

  it("feeds the sampler directly (.jsonl.br sources)", async () => {
    const s = await createSampler({
      corpus: join(CORPUS, "train"),
      proportions: Object.fromEntries(SHIPPABLE.map((d) => [d, 1 / SHIPPABLE.length])),
      seed: 0,
      open: { cacheDir: join(tmp(), "cache") },
    });
    let n = 0;
    for await (const ex of s.examples({ limit: 40 })) {
      expect(ex.text!.length).toBeGreaterThan(0);
      n++;
    }
    expect(n).toBe(40);
  });
});

describe("text hygiene", () => {
  it("cleans, splits, packs", () => {
    expect(cleanText("a\r\nb\x08b  \n\x07c")).toBe("a\nb\nc");
    expect(splitText("aaaa\nbbbb\ncccc", 9)).toEqual(["aaaa\nbbbb", "cccc"]);
    expect(packUnits(["x".repeat(10), "y".repeat(10), "z"], "s", 20, 100).map((r) => r.text)).toEqual([
      `${"x".repeat(10)}\n\n${"y".repeat(10)}`,
      "z",
    ]);
    expect(jensenShannon(new Map([["a", 1]]), new Map([["b", 1]]))).toBeCloseTo(1, 12);
  });

  it("decodes emails and strips Metamath proofs", () => {
    const mail =
      'Subject: hi\nContent-Type: multipart/alternative; boundary="b"\n\n' +
      "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n" +
      "caf=C3=A9 =\nok\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n";
    expect(emailText(mail)).toContain("Subject: hi");
    expect(emailText(mail)).toContain("ok");
    expect(emailText(mail)).not.toContain("<p>");
    expect(metamathText("ax-1 $a |- ( ph -> ph ) $.\nid $p |- ( ph -> ph ) $= ( wi ax-1 ) ABC $.")).toBe(
      "ax-1 $a |- ( ph -> ph ) $.\nid $p |- ( ph -> ph ) $= $.",
    );
  });
});

const hasApt = (() => {
  try {
    execFileSync("sh", ["-c", "command -v apt-get && command -v dpkg-deb"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasApt) {
  console.warn("SKIPPED: building domains from Debian packages needs apt-get and dpkg-deb, which this machine lacks");
}

describe("building from real packages", () => {
  it.skipIf(!hasApt)(
    "builds legal (npm) and dictionary (Debian) deterministically, and skips them when up to date",
    async () => {
      const out = tmp();
      const cache = join(ROOT, ".cache", "packages");
      const progress: string[] = [];
      const m = await buildCorpus({
        out, domains: ["legal", "dictionary"], maxMb: 1, cache, progress: (l) => progress.push(l),
      });
      expect(m.domains.map((d) => d.name)).toEqual(["dictionary", "legal"]);
      expect(m.domains.every((d) => d.records.train > 100)).toBe(true);
      const again = await buildCorpus({
        out, domains: ["legal", "dictionary"], maxMb: 1, cache, progress: (l) => progress.push(l),
      });
      expect(progress.filter((l) => l.includes("up to date"))).toHaveLength(2);
      const forced = await buildCorpus({
        out: tmp(), domains: ["legal", "dictionary"], maxMb: 1, cache, force: true, progress: () => {},
      });
      expect(forced.domains.map((d) => d.sha256)).toEqual(again.domains.map((d) => d.sha256));
    },
    180_000,
  );
});

describe("R lazy-load databases", () => {
  it("reads character vectors by name from hand-built XDR serialisations", async () => {
    const { readLazyLoadDb } = await import("../../src/datasets/rdata.js");
    const { gzipSync, deflateSync } = await import("node:zlib");
    const { writeFileSync } = await import("node:fs");
    const int = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(v);
      return b;
    };
    const header = Buffer.concat([Buffer.from("X\n", "latin1"), int(2), int(0x040200), int(0x020300)]);
    const chars = (s: string) => Buffer.concat([int(9 | (1 << 15)), int(Buffer.byteLength(s)), Buffer.from(s)]);
    const strsxp = (xs: string[], attr = 0) => Buffer.concat([int(16 | attr), int(xs.length), ...xs.map(chars)]);
    const intsxp = (xs: number[]) => Buffer.concat([int(13), int(xs.length), ...xs.map(int)]);
    // One object: c("It is a truth", "universally acknowledged").
    const obj = Buffer.concat([header, strsxp(["It is a truth", "universally acknowledged"])]);
    const entry = Buffer.concat([int(obj.length), deflateSync(obj)]);
    // The index: list(variables = list(novel = c(0L, length))). Attribute pairlists are tagged
    // with symbols: SYMSXP flags (1), then the name as a CHARSXP; 254 ends a pairlist.
    const sym = (name: string) => Buffer.concat([int(1), chars(name)]);
    const namesAttr = (ns: string[]) => Buffer.concat([int(2 | (1 << 10)), sym("names"), strsxp(ns), int(254)]);
    const variables = Buffer.concat([int(19 | (1 << 9)), int(1), intsxp([0, entry.length]), namesAttr(["novel"])]);
    const index = Buffer.concat([header, int(19 | (1 << 9)), int(1), variables, namesAttr(["variables"])]);
    const dir = tmp();
    writeFileSync(join(dir, "Rdata.rdx"), gzipSync(index));
    writeFileSync(join(dir, "Rdata.rdb"), entry);
    const db = readLazyLoadDb(join(dir, "Rdata.rdx"), join(dir, "Rdata.rdb"));
    expect([...db.keys()]).toEqual(["novel"]);
    expect(db.get("novel")).toEqual(["It is a truth", "universally acknowledged"]);
  });
});
