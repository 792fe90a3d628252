export {
  type NodeListenerOptions,
  toNodeListener,
} from "./to-node-listener.js";
