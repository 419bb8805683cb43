import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { artifactKey } from '../../core/downloads.js';
import type { ArtifactStore } from '../../core/ports.js';

/**
 * Artefacts in a folder: `<root>/<session_id>/<name>`. A file appears only once complete (written
 * under a temporary name, then renamed); its location is its absolute path.
 */
export class LocalArtifacts implements ArtifactStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async write(sessionId: string, name: string, body: NodeJS.ReadableStream): Promise<string> {
    const folder = this.inside(sessionId);
    const file = this.inside(sessionId, name);
    await mkdir(folder, { recursive: true });
    // Names start with a letter or digit, so a dot-name never meets a stored file.
    const temporary = join(folder, `.${randomUUID()}.part`);
    try {
      await pipeline(body, createWriteStream(temporary, { flags: 'wx' }));
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return file;
  }

  async removeSession(sessionId: string): Promise<void> {
    await rm(this.inside(sessionId), { recursive: true, force: true });
  }

  /** A path under the root from plain segments (no separators, no `..`): nothing can reach outside it. */
  private inside(...segments: string[]): string {
    const path = resolve(this.root, artifactKey(...segments));
    if (!path.startsWith(this.root + sep)) throw new Error(`artefact path outside ${this.root}: ${path}`);
    return path;
  }
}
