// workerpool's worker script for bench/node/pool.mjs: workerpool calls functions a worker has
// registered by name, so this registers the shared targets (the same code the other pools run).
import workerpool from "workerpool";
import { burn, square, squareChunk } from "./pool_targets.mjs";

workerpool.worker({ square, squareChunk, burn });
