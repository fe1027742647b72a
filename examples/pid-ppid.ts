// Mirrors seed 003_d33f3412ca5112a8.txt §2.2.6 [4] "查看进程号的方法:current_process().pid os.getpid()" and
// [5] "查看父进程号的方法:os.getppid()".
// Shows: currentProcess().pid and process.pid are the same number, in the
// main process and in each child; a child's process.ppid is the main
// process's pid (and parentProcess() describes that parent).
//
// Run: node --import tsx examples/pid-ppid.ts
import { Process, currentProcess, isMain, parentProcess } from "multiproc";

// [4]: the two ways to read one's own pid.
export function work(name: number): void {
  console.log(`child ${name}: currentProcess().pid = ${currentProcess().pid}`);
  console.log(`child ${name}: process.pid          = ${process.pid}`);
}

// [5]: the parent's pid, from the OS and from multiproc.
export function workParent(name: number): void {
  console.log(`child ${name}: pid = ${currentProcess().pid}`);
  console.log(`child ${name}: process.ppid = ${process.ppid}, parentProcess().pid = ${parentProcess()!.pid}`);
}

if (isMain(import.meta)) {
  console.log("--- [4] pid ---");
  const p1 = new Process({ target: work, args: [1] });
  p1.start();
  const p2 = new Process({ target: work, args: [2] });
  p2.start();
  console.log(`main: currentProcess().pid = ${currentProcess().pid}, process.pid = ${process.pid}`);
  console.log(`main: the children are p1.pid = ${p1.pid}, p2.pid = ${p2.pid}`);
  await p1.join();
  await p2.join();

  console.log("\n--- [5] ppid ---");
  const p = new Process({ target: workParent, args: [1] });
  p.start();
  console.log(`main: pid = ${currentProcess().pid}`);
  console.log(`main: ppid = ${process.ppid} (the shell or npm that started this program)`);
  await p.join();
}
