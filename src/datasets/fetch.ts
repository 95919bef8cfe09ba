// Fetching packages without installing them: Debian packages with `apt-get download` and
// `dpkg-deb -x`, npm packages with `npm pack` and `tar -xzf`. Everything lands in a cache folder
// keyed by package file name (which carries the version), so a rebuild with a warm cache does no
// network work and nothing is installed or started on the machine.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UnsupportedError, InputError } from "../errors.js";

const run = promisify(execFile);

/** Whether a command exists on PATH. */
export async function hasCommand(cmd: string): Promise<boolean> {
  try {
    await run("sh", ["-c", `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** A fetched and unpacked package. */
export interface FetchedPackage {
  readonly name: string;
  /** The version from the package file name. */
  readonly version: string;
  /** Where its files were unpacked. */
  readonly root: string;
  readonly origin: "debian" | "npm";
}

/**
 * Downloads (if not cached) and unpacks a Debian package.
 * @throws UnsupportedError when apt-get or dpkg-deb are missing
 */
export async function fetchDeb(name: string, cache: string): Promise<FetchedPackage> {
  const debs = join(cache, "debs");
  mkdirSync(debs, { recursive: true });
  const find = () => readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith(".deb"));
  let file = find();
  if (!file) {
    if (!(await hasCommand("apt-get"))) throw new UnsupportedError(
      `Debian package ${name}: apt-get is not available on this machine`,
    );
    try {
      await run("apt-get", ["download", "-q", name], { cwd: debs, maxBuffer: 1 << 24 });
    } catch (e) {
      throw new UnsupportedError(
        `Debian package ${name}: apt-get download failed ` +
          `(${((e as { stderr?: string }).stderr ?? String(e)).trim().split("\n").pop()}); run apt-get update first?`,
      );
    }
    file = find();
    if (!file) throw new UnsupportedError(`Debian package ${name}: apt-get download produced no .deb`);
  }
  const version = decodeURIComponent(file.slice(name.length + 1).split("_")[0]!);
  const root = join(cache, "unpacked", file.replace(/\.deb$/, ""));
  if (!existsSync(join(root, ".done"))) {
    if (!(await hasCommand("dpkg-deb"))) throw new UnsupportedError(
      `Debian package ${name}: dpkg-deb is not available on this machine`,
    );
    const tmp = `${root}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await run("dpkg-deb", ["-x", join(debs, file), tmp]);
    mkdirSync(join(tmp, ".done"));
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
  }
  return { name, version, root, origin: "debian" };
}

/** Downloads (if not cached) and unpacks an npm package (its files are under `<root>/package`). */
export async function fetchNpm(name: string, cache: string): Promise<FetchedPackage> {
  const tgzs = join(cache, "npm");
  mkdirSync(tgzs, { recursive: true });
  const stem = name.replace(/^@/, "").replace("/", "-");
  const find = () =>
    readdirSync(tgzs).find(
      (f) =>
        f.startsWith(`${stem}-`) &&
        /-\d[^/]*\.tgz$/.test(f) &&
        f.slice(stem.length + 1, stem.length + 2).match(/\d/),
    );
  let file = find();
  if (!file) {
    try {
      await run("npm", ["pack", name, "--silent"], { cwd: tgzs, maxBuffer: 1 << 24 });
    } catch (e) {
      throw new UnsupportedError(
        `npm package ${name}: npm pack failed ` +
          `(${((e as { stderr?: string }).stderr ?? String(e)).trim().split("\n").pop()})`,
      );
    }
    file = find();
    if (!file) throw new InputError(name, "expected npm pack to write a .tgz, got none");
  }
  const version = file.slice(stem.length + 1, -4);
  const root = join(cache, "unpacked", file.replace(/\.tgz$/, ""));
  if (!existsSync(join(root, ".done"))) {
    const tmp = `${root}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await run("tar", ["-xzf", join(tgzs, file), "-C", tmp]);
    mkdirSync(join(tmp, ".done"));
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
  }
  return { name, version, root: join(root, "package"), origin: "npm" };
}

/** Runs a program and returns its stdout (for groff and the bible program). */
export async function runProgram(cmd: string, args: string[], input?: Buffer): Promise<string> {
  if (input) {
    return new Promise((resolve, reject) => {
      const child = execFile(cmd, args, { maxBuffer: 1 << 28, encoding: "utf8" }, (err, stdout) =>
        (err ? reject(err) : resolve(stdout)),
      );
      child.stdin!.end(input);
    });
  }
  return (await run(cmd, args, { maxBuffer: 1 << 28, encoding: "utf8" })).stdout;
}

/** Every file under a folder, sorted (deterministic order). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    )) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}
