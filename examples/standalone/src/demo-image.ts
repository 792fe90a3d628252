import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer as collect } from "node:stream/consumers";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

/** Media types of the OCI image spec. */
const MEDIA_TYPES = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** Options of {@link buildOciImage}. */
export interface OciImageOptions {
  /** The tag recorded in index.json (`org.opencontainers.image.ref.name`). Default `latest`. */
  readonly tag?: string;
  /** The one file in the layer: its path in the image and content. Default `hello.txt`. */
  readonly file?: { readonly path: string; readonly content: string };
}

/** What {@link buildOciImage} wrote; digests are `sha256:<hex>`. */
export interface OciImage {
  /** The digest of the manifest: what a registry reports for the pushed image. */
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** The digest of the gzipped layer blob. */
  readonly layerDigest: string;
  /** The sha256 of the uncompressed tar (`rootfs.diff_ids[0]`). */
  readonly diffId: string;
  readonly tag: string;
  /** The skopeo reference of the image: `oci:<dir>:<tag>`. */
  readonly reference: string;
}

const sha256 = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/**
 * Writes a one-layer linux/amd64 image as an OCI image layout in `dir` (created
 * if needed): `oci-layout`, `index.json` tagging the manifest, and under
 * `blobs/sha256/` a gzipped tar layer holding one file, the config (with
 * `rootfs.diff_ids` = sha256 of the uncompressed tar) and the manifest. The
 * output is deterministic: the same options give the same digests.
 *
 * @example
 * const image = await buildOciImage(join(tmp, "src"));
 * await skopeo.copy(image.reference, `docker://${registry.host}/demo:latest`, ...);
 */
export async function buildOciImage(dir: string, options: OciImageOptions = {}): Promise<OciImage> {
  const tag = options.tag ?? "latest";
  const file = options.file ?? { path: "hello.txt", content: "hello from regauth\n" };
  const blobs = join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const writeBlob = async (data: Uint8Array) => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice("sha256:".length)), data);
    return { digest, size: data.byteLength };
  };

  const created = new Date("2026-01-01T00:00:00Z");
  const tar = pack();
  const content = Buffer.from(file.content, "utf8");
  tar.entry({ name: file.path, mode: 0o644, mtime: created, size: content.byteLength }, content);
  tar.finalize();
  const tarBytes = await collect(tar);
  const diffId = sha256(tarBytes);
  // gzip header mtime is 0 in Node's zlib, so the layer digest is stable too.
  const layer = await writeBlob(gzipSync(tarBytes));

  const imageConfig = {
    created: created.toISOString(),
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/true"] },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created: created.toISOString(), created_by: "regauth buildOciImage" }],
  };
  const config = await writeBlob(Buffer.from(JSON.stringify(imageConfig)));

  const manifestJson = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, ...config },
    layers: [{ mediaType: MEDIA_TYPES.layer, ...layer }],
  };
  const manifest = await writeBlob(Buffer.from(JSON.stringify(manifestJson)));

  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: MEDIA_TYPES.manifest,
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      },
    ],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));

  return {
    manifestDigest: manifest.digest,
    configDigest: config.digest,
    layerDigest: layer.digest,
    diffId,
    tag,
    reference: `oci:${dir}:${tag}`,
  };
}
