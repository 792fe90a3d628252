// `koa2` is Koa 2 installed under another name (npm:koa@^2) so the Koa adapter
// tests run against both majors; its API is the one @types/koa describes.
declare module "koa2" {
  import Koa from "koa";
  // biome-ignore lint/style/noDefaultExport: describes Koa's own module, whose export is a default
  export default Koa;
}
