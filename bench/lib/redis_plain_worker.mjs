// The plain BullMQ twin's worker (bench/node/redis_pool.mjs): squares a chunk of items in its own process and
// returns them as the job's return value. Usage: node redis_plain_worker.mjs URL QUEUE
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { square, squareChunk } from "./pool_targets.mjs";

const [url, queue] = process.argv.slice(2);
const connection = new Redis(url, { maxRetriesPerRequest: null });
const worker = new Worker(queue, async (job) => (job.name === "apply" ? square(job.data.x) : squareChunk(job.data.items)), { connection, concurrency: 2, prefix: "plain" });
worker.on("error", () => {});
await worker.waitUntilReady();
console.log("ready");
