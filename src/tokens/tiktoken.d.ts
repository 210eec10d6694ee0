/** A tiktoken rank file, imported as an embedded file: its path (in a compiled binary, inside it). */
declare module "*.tiktoken" {
  const path: string;
  export default path;
}
