// The sim interpreter: scheduling, control flow, memory, cp.async, barriers and warp
// collectives. Arithmetic lives in sim_alu.cpp.

#include "sim/sim_exec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "common/error.hpp"
#include "sim/sim_decode.hpp"
#include "sim/sim_lane.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {

namespace {

constexpr int kWarp = 32;

enum class Status : std::uint8_t { kReady, kBarrier, kExited };

// Shared-memory byte states (shadow memory).
enum : std::uint8_t { kUnwritten = 0, kWritten = 1, kPending = 2 };

struct PendingCopy {
  std::uint32_t dst = 0;  // shared offset
  std::uint8_t bytes[16];
  std::uint32_t size = 0;
  std::int32_t group = -1;  // -1: not committed yet
};

struct RaceCell {
  std::uint32_t write_thread = 0, write_epoch = 0;  // thread + 1, 0 = none
  std::uint32_t read_thread = 0, read_epoch = 0;
};

class SimFault : public std::exception {
 public:
  explicit SimFault(std::string m) : message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
  std::string message;
};

class Cta {
 public:
  Cta(const GridLaunch& l, SimCounters& counters)
      : l_(l), fn_(*l.fn), counters_(counters) {
    nthreads_ = l.block.x * l.block.y * l.block.z;
    nwarps_ = (nthreads_ + kWarp - 1) / kWarp;
    regs_.assign(static_cast<size_t>(nthreads_) * std::max<std::uint32_t>(fn_.nregs, 1), 0);
    pc_.assign(nthreads_, 0);
    status_.assign(nthreads_, Status::kReady);
    waiting_.assign(nthreads_, 0);
    carry_.assign(nthreads_, 0);
    local_.assign(static_cast<size_t>(nthreads_) * fn_.local_bytes, 0);
    smem_bytes_ = fn_.dynamic_shared_offset + l.dynamic_smem;
    if (l.dynamic_smem == 0) smem_bytes_ = fn_.static_shared_bytes;
    shared_.assign(smem_bytes_, 0);
    shadow_.assign(smem_bytes_, kUnwritten);
    if (l.options.race_check) race_.assign(smem_bytes_, RaceCell{});
    pending_.resize(nthreads_);
    bar_of_.assign(nthreads_, 0);
    next_group_.assign(nthreads_, 0);
  }

  void run(std::uint32_t cta_linear) {
    ctaid_[0] = cta_linear % l_.grid.x;
    ctaid_[1] = (cta_linear / l_.grid.x) % l_.grid.y;
    ctaid_[2] = cta_linear / (l_.grid.x * l_.grid.y);
    std::fill(pc_.begin(), pc_.end(), 0);
    std::fill(status_.begin(), status_.end(), Status::kReady);
    std::fill(regs_.begin(), regs_.end(), 0);
    std::fill(shadow_.begin(), shadow_.end(), kUnwritten);
    for (auto& p : pending_) p.clear();
    std::fill(next_group_.begin(), next_group_.end(), 0);
    if (!race_.empty()) std::fill(race_.begin(), race_.end(), RaceCell{});
    epoch_ = 1;
    for (auto& b : bars_) b = BarrierState{};
    ctxs_.clear();
    for (std::uint32_t t = 0; t < nthreads_; ++t) ctxs_.push_back(make_lane_ctx(t));
    for (;;) {
      bool progress = false;
      for (std::uint32_t w = 0; w < nwarps_; ++w) progress |= run_warp(w);
      std::uint32_t exited = 0;
      for (std::uint32_t t = 0; t < nthreads_; ++t) exited += status_[t] == Status::kExited;
      if (exited == nthreads_) return;
      if (release_barriers(nthreads_ - exited)) continue;
      if (!progress) deadlock();
    }
  }

 private:
  // ---- scheduling -------------------------------------------------------------------

  // Runs warp w until all its lanes are exited, at a barrier, or waiting at a collective
  // that cannot complete yet. Returns whether any instruction executed.
  bool run_warp(std::uint32_t w) {
    bool any = false;
    const std::uint32_t first = w * kWarp;
    const std::uint32_t last = std::min(first + kWarp, nthreads_);
    for (std::uint32_t t = first; t < last; ++t) waiting_[t] = 0;
    for (;;) {
      // The lanes at the lowest PC run together; `next_pc` is where the next group waits.
      std::uint32_t min_pc = UINT32_MAX, next_pc = UINT32_MAX, mask = 0;
      for (std::uint32_t t = first; t < last; ++t) {
        if (status_[t] != Status::kReady || waiting_[t]) continue;
        const std::uint32_t p = pc_[t];
        if (p < min_pc) {
          next_pc = min_pc;
          min_pc = p;
          mask = 1u << (t - first);
        } else if (p == min_pc) {
          mask |= 1u << (t - first);
        } else if (p < next_pc) {
          next_pc = p;
        }
      }
      if (min_pc == UINT32_MAX) return any;
      // NOTE: straight-line code keeps the group unchanged until it reaches the next
      // group's PC (where lanes may reconverge), so no rescan is needed in between.
      for (std::uint32_t pc = min_pc;; ++pc) {
        if (!execute(w, pc, mask)) break;  // a collective waits for lanes still elsewhere
        if (!any) {
          any = true;
          for (std::uint32_t t = first; t < last; ++t) waiting_[t] = 0;
        }
        if (!straight_line(fn_.insts[pc].op) || pc + 1 >= next_pc) break;
      }
    }
  }

  static bool straight_line(Op op) {
    switch (op) {
      case Op::kBra: case Op::kRet: case Op::kExit: case Op::kBar: case Op::kBarArrive: case Op::kBarWarp:
      case Op::kShfl: case Op::kVote: case Op::kMatch: case Op::kRedux: case Op::kLdmatrix: case Op::kStmatrix:
      case Op::kMma: case Op::kActivemask:
        return false;
      default:
        return true;
    }
  }

  // NOTE: built once per CTA (make_lane_ctx) and handed out by reference: the per-lane
  // loop of every instruction must not rebuild it.
  LaneCtx& lane_ctx(std::uint32_t t) { return ctxs_[t]; }

  LaneCtx make_lane_ctx(std::uint32_t t) {
    LaneCtx c;
    c.regs = regs_.data() + static_cast<size_t>(t) * fn_.nregs;
    c.carry = &carry_[t];
    c.tid[0] = t % l_.block.x;
    c.tid[1] = (t / l_.block.x) % l_.block.y;
    c.tid[2] = t / (l_.block.x * l_.block.y);
    c.ntid[0] = l_.block.x, c.ntid[1] = l_.block.y, c.ntid[2] = l_.block.z;
    for (int i = 0; i < 3; ++i) c.ctaid[i] = ctaid_[i];
    c.nctaid[0] = l_.grid.x, c.nctaid[1] = l_.grid.y, c.nctaid[2] = l_.grid.z;
    c.laneid = t % kWarp;
    c.warpid = t / kWarp;
    c.nwarpid = nwarps_;
    c.nsmid = static_cast<std::uint32_t>(l_.sm_count);
    c.smid = (ctaid_[0] + ctaid_[1] * l_.grid.x) % c.nsmid;
    c.dynamic_smem = l_.dynamic_smem;
    c.total_smem = smem_bytes_;
    c.clock = &clock_;
    return c;
  }

  std::uint64_t reg(std::uint32_t t, std::uint32_t slot) const { return regs_[static_cast<size_t>(t) * fn_.nregs + slot]; }

  // ---- errors -----------------------------------------------------------------------

  std::string where(std::uint32_t t, const DInst& in) const {
    return fmt::format("kernel {}, PTX line {} ('{}'), block ({}, {}, {}), thread ({}, {}, {})", fn_.name, in.line,
                       in.source ? in.source->text : "ret", ctaid_[0], ctaid_[1], ctaid_[2], t % l_.block.x,
                       (t / l_.block.x) % l_.block.y, t / (l_.block.x * l_.block.y));
  }
  [[noreturn]] void fault(std::uint32_t t, const DInst& in, const std::string& what) const {
    throw SimFault(fmt::format("{}: {}", what, where(t, in)));
  }

  [[noreturn]] void deadlock() const {
    std::string detail;
    for (std::uint32_t w = 0; w < nwarps_; ++w) {
      for (std::uint32_t t = w * kWarp; t < std::min((w + 1) * kWarp, nthreads_); ++t) {
        if (status_[t] == Status::kReady) {
          const DInst& in = fn_.insts[pc_[t]];
          detail += fmt::format("\n  warp {} lane {} waits at PTX line {}: {}", w, t % kWarp, in.line,
                                in.source ? in.source->text : "");
        } else if (status_[t] == Status::kBarrier && (t % kWarp == 0 || status_[t - 1] != Status::kBarrier)) {
          const DInst& in = fn_.insts[pc_[t] - 1];
          const BarrierState& b = bars_[bar_of_[t]];
          detail += fmt::format("\n  warp {} from lane {} waits at barrier {} (PTX line {}: {}), {} of {} arrived", w,
                                t % kWarp, bar_of_[t], in.line, in.source ? in.source->text : "", b.arrived,
                                b.expected ? b.expected : nthreads_);
        }
      }
      if (detail.size() > 4000) break;
    }
    throw SimFault(fmt::format(
        "kernel {}, block ({}, {}, {}): deadlock — the lanes of a warp-collective instruction did not all arrive at "
        "the same instruction (or a barrier waits for threads that wait elsewhere):{}",
        fn_.name, ctaid_[0], ctaid_[1], ctaid_[2], detail));
  }

  // ---- memory -----------------------------------------------------------------------

  struct Target {
    Space space;
    std::uint64_t addr;  // within its space (shared/local offset, global address)
  };

  Target resolve(Space space, std::uint64_t addr) const {
    if (space != Space::kGeneric) return {space == Space::kConst ? Space::kGlobal : space, addr};
    if (addr >= kSharedWindow && addr < kSharedWindow + kWindowSize) return {Space::kShared, addr - kSharedWindow};
    if (addr >= kLocalWindow && addr < kLocalWindow + kWindowSize) return {Space::kLocal, addr - kLocalWindow};
    return {Space::kGlobal, addr};
  }

  // Host pointer for an access of `size` bytes by thread t; checks bounds and alignment.
  std::uint8_t* access(std::uint32_t t, const DInst& in, Target tg, std::uint32_t size, bool write,
                       const Allocation** hint) {
    if (tg.addr % size != 0) {
      fault(t, in, fmt::format("misaligned {}-byte {} at {} address 0x{:x}", size, write ? "store" : "load",
                               space_name(tg.space), tg.addr));
    }
    switch (tg.space) {
      case Space::kGlobal: {
        std::uint8_t* p = l_.heap->translate(tg.addr, size, hint);
        if (p == nullptr) {
          fault(t, in, fmt::format("out-of-bounds global {} of {} bytes: {}", write ? "store" : "load", size,
                                   l_.heap->describe(tg.addr)));
        }
        return p;
      }
      case Space::kShared:
        if (tg.addr + size > smem_bytes_) {
          fault(t, in, fmt::format("out-of-bounds shared {} of {} bytes at offset {} (the block has {} bytes)",
                                   write ? "store" : "load", size, tg.addr, smem_bytes_));
        }
        return shared_.data() + tg.addr;
      case Space::kLocal:
        if (tg.addr + size > fn_.local_bytes) {
          fault(t, in, fmt::format("out-of-bounds local {} of {} bytes at offset {} (the frame has {} bytes)",
                                   write ? "store" : "load", size, tg.addr, fn_.local_bytes));
        }
        return local_.data() + static_cast<size_t>(t) * fn_.local_bytes + tg.addr;
      case Space::kParam:
        if (write) fault(t, in, "store to kernel parameter space");
        if (tg.addr + size > l_.params.size()) {
          fault(t, in, fmt::format("out-of-bounds parameter load at offset {} ({} bytes of parameters)", tg.addr,
                                   l_.params.size()));
        }
        return const_cast<std::uint8_t*>(l_.params.data()) + tg.addr;
      default:
        fault(t, in, "access to an unsupported state space");
    }
  }

  static const char* space_name(Space s) {
    switch (s) {
      case Space::kGlobal: return "global";
      case Space::kShared: return "shared";
      case Space::kLocal: return "local";
      case Space::kParam: return "param";
      case Space::kConst: return "const";
      default: return "generic";
    }
  }

  void shared_read_check(std::uint32_t t, const DInst& in, std::uint64_t off, std::uint32_t size) {
    for (std::uint32_t i = 0; i < size; ++i) {
      const std::uint8_t s = shadow_[off + i];
      if (s == kWritten) continue;
      if (s == kUnwritten) fault(t, in, fmt::format("read of shared memory never written (offset {})", off + i));
      fault(t, in, fmt::format("read of shared memory (offset {}) that an unwaited cp.async still targets: a missing "
                               "or too weak cp.async.wait_group", off + i));
    }
    if (!race_.empty()) race_read(t, in, off, size);
  }

  void shared_write_mark(std::uint32_t t, const DInst& in, std::uint64_t off, std::uint32_t size) {
    for (std::uint32_t i = 0; i < size; ++i) {
      if (shadow_[off + i] == kPending) {
        fault(t, in, fmt::format("store to shared memory (offset {}) that an unwaited cp.async still targets", off + i));
      }
      shadow_[off + i] = kWritten;
    }
    if (!race_.empty()) race_write(t, in, off, size);
  }

  bool same_warp(std::uint32_t a, std::uint32_t b) const { return a / kWarp == b / kWarp; }

  void race_read(std::uint32_t t, const DInst& in, std::uint64_t off, std::uint32_t size) {
    for (std::uint32_t i = 0; i < size; ++i) {
      RaceCell& c = race_[off + i];
      if (c.write_epoch == epoch_ && c.write_thread != 0 && c.write_thread - 1 != t && !same_warp(c.write_thread - 1, t)) {
        fault(t, in, fmt::format("shared-memory race: offset {} was written by thread {} since the last barrier",
                                 off + i, c.write_thread - 1));
      }
      c.read_thread = t + 1;
      c.read_epoch = epoch_;
    }
  }

  void race_write(std::uint32_t t, const DInst& in, std::uint64_t off, std::uint32_t size) {
    for (std::uint32_t i = 0; i < size; ++i) {
      RaceCell& c = race_[off + i];
      if (c.write_epoch == epoch_ && c.write_thread != 0 && c.write_thread - 1 != t && !same_warp(c.write_thread - 1, t)) {
        fault(t, in, fmt::format("shared-memory race: offset {} was also written by thread {} since the last barrier",
                                 off + i, c.write_thread - 1));
      }
      if (c.read_epoch == epoch_ && c.read_thread != 0 && c.read_thread - 1 != t && !same_warp(c.read_thread - 1, t)) {
        fault(t, in, fmt::format("shared-memory race: offset {} was read by thread {} since the last barrier", off + i,
                                 c.read_thread - 1));
      }
      c.write_thread = t + 1;
      c.write_epoch = epoch_;
    }
  }

  std::uint64_t address(const DOperand& o, const LaneCtx& c) const {
    std::uint64_t a = o.imm;
    if (o.has_base) a += c.regs[o.reg];
    return a;
  }

  // Nsight-style wavefront count of one warp-level shared access: lanes grouped into
  // phases by access width (<= 4 B: 32 lanes, 8 B: 16, 16 B: 8); in each phase the
  // wavefronts are the most distinct 4-byte words any one bank must serve.
  void count_shared(const std::uint64_t* addr, std::uint32_t mask, std::uint32_t size) {
    const std::uint32_t lanes_per_phase = size <= 4 ? 32 : size == 8 ? 16 : 8;
    const std::uint32_t words = std::max<std::uint32_t>(size / 4, 1);
    for (std::uint32_t p = 0; p < kWarp; p += lanes_per_phase) {
      std::uint64_t bank_words[32][32];
      std::uint32_t counts[32] = {0};
      bool active = false;
      for (std::uint32_t l = p; l < p + lanes_per_phase; ++l) {
        if (!(mask >> l & 1)) continue;
        active = true;
        for (std::uint32_t w = 0; w < words; ++w) {
          const std::uint64_t word = addr[l] / 4 + w;
          const std::uint32_t bank = static_cast<std::uint32_t>(word % 32);
          bool seen = false;
          for (std::uint32_t i = 0; i < counts[bank]; ++i) seen |= bank_words[bank][i] == word;
          if (!seen && counts[bank] < 32) bank_words[bank][counts[bank]++] = word;
        }
      }
      if (!active) continue;
      std::uint32_t wf = 1;
      for (std::uint32_t b = 0; b < 32; ++b) wf = std::max(wf, counts[b]);
      counters_.shared_wavefronts += wf;
      counters_.shared_ideal_wavefronts += 1;
    }
  }

  void count_global(const std::uint64_t* addr, std::uint32_t mask, std::uint32_t size, bool load) {
    std::uint64_t sectors[64];
    int ns = 0;
    std::pair<std::uint64_t, std::uint64_t> spans[32];
    int nspans = 0;
    for (std::uint32_t l = 0; l < kWarp; ++l) {
      if (!(mask >> l & 1)) continue;
      spans[nspans++] = {addr[l], addr[l] + size};
      for (std::uint64_t s = addr[l] / 32; s <= (addr[l] + size - 1) / 32; ++s) {
        bool seen = false;
        for (int i = 0; i < ns; ++i) seen |= sectors[i] == s;
        if (!seen && ns < 64) sectors[ns++] = s;
      }
    }
    std::sort(spans, spans + nspans);
    std::uint64_t bytes = 0, end = 0;
    for (int i = 0; i < nspans; ++i) {
      const std::uint64_t b = std::max(spans[i].first, end);
      if (spans[i].second > b) bytes += spans[i].second - b;
      end = std::max(end, spans[i].second);
    }
    if (load) {
      counters_.global_load_sectors += static_cast<std::uint64_t>(ns);
      counters_.global_load_bytes += bytes;
    } else {
      counters_.global_store_sectors += static_cast<std::uint64_t>(ns);
      counters_.global_store_bytes += bytes;
    }
  }

  // ---- instruction execution --------------------------------------------------------

  // Executes the instruction at `pc` for the lanes in `mask` (all at pc). Returns false if
  // it is a collective that cannot complete yet (the lanes are then marked waiting).
  bool execute(std::uint32_t w, std::uint32_t pc, std::uint32_t mask) {
    const DInst& in = fn_.insts[pc];
    const std::uint32_t base = w * kWarp;
    ++clock_;
    // Guards: lanes whose predicate is false skip the instruction (collectives excepted:
    // their membermask decides).
    std::uint32_t exec = mask;
    if (in.guard >= 0) {
      exec = 0;
      for (std::uint32_t l = 0; l < kWarp; ++l) {
        if (!(mask >> l & 1)) continue;
        const bool p = reg(base + l, static_cast<std::uint32_t>(in.guard)) != 0;
        if (p != in.guard_negated) exec |= 1u << l;
      }
    }
    if (is_collective(in.op)) return collective(w, pc, mask, exec, in);
    counters_.warp_instructions += 1;
    counters_.thread_instructions += static_cast<std::uint64_t>(__builtin_popcount(exec));
    if (is_alu(in.op)) {
      for (std::uint32_t l = 0; l < kWarp; ++l) {
        if (!(exec >> l & 1)) continue;
        LaneCtx& c = lane_ctx(base + l);
        exec_alu(in, c);
      }
      classify(in.op);
      advance(base, mask, pc + 1);
      return true;
    }
    switch (in.op) {
      case Op::kBra: {
        counters_.control += 1;
        for (std::uint32_t l = 0; l < kWarp; ++l) {
          if (!(mask >> l & 1)) continue;
          pc_[base + l] = (exec >> l & 1) ? in.target : pc + 1;
        }
        return true;
      }
      case Op::kRet:
      case Op::kExit:
        counters_.control += 1;
        for (std::uint32_t l = 0; l < kWarp; ++l) {
          if (exec >> l & 1) status_[base + l] = Status::kExited;
        }
        advance(base, mask & ~exec, pc + 1);
        return true;
      case Op::kBar:
      case Op::kBarArrive: {
        // bar.sync / barrier.sync a{, b}: arrive and wait; bar.arrive a, b: arrive only.
        counters_.barriers += 1;
        if (exec == 0) {
          advance(base, mask, pc + 1);
          return true;
        }
        const std::uint32_t lead = base + static_cast<std::uint32_t>(__builtin_ctz(exec));
        LaneCtx& c = lane_ctx(lead);
        const std::uint64_t id = in.nops >= 1 ? read_operand(in.ops[0], c) : 0;
        if (id >= bars_.size()) fault(lead, in, fmt::format("barrier id {} is out of range (0..15)", id));
        BarrierState& b = bars_[id];
        std::uint32_t count = 0;
        if (in.nops >= 2) {
          count = static_cast<std::uint32_t>(read_operand(in.ops[1], c));
          if (count == 0 || count % 32 != 0 || count > nthreads_) {
            fault(lead, in, fmt::format("barrier thread count {} must be a non-zero multiple of 32 up to {}", count,
                                        nthreads_));
          }
          if (b.expected != 0 && b.expected != count) {
            fault(lead, in, fmt::format("barrier {} used with thread counts {} and {} in one phase", id, b.expected,
                                        count));
          }
          b.expected = count;
        } else if (in.op == Op::kBarArrive) {
          fault(lead, in, "bar.arrive needs a thread count");
        }
        for (std::uint32_t l = 0; l < kWarp; ++l) {
          if (!(mask >> l & 1)) continue;
          pc_[base + l] = pc + 1;
          if (!(exec >> l & 1)) continue;
          ++b.arrived;
          if (in.op == Op::kBar) {
            status_[base + l] = Status::kBarrier;
            bar_of_[base + l] = static_cast<std::uint8_t>(id);
          }
        }
        return true;
      }
      case Op::kMembar:
      case Op::kNop:
        advance(base, mask, pc + 1);
        return true;
      case Op::kLd:
      case Op::kSt:
        mem_access(in, base, exec);
        advance(base, mask, pc + 1);
        return true;
      case Op::kAtom:
      case Op::kRed:
        atomic(in, base, exec);
        advance(base, mask, pc + 1);
        return true;
      case Op::kCvta:
        for (std::uint32_t l = 0; l < kWarp; ++l) {
          if (!(exec >> l & 1)) continue;
          LaneCtx& c = lane_ctx(base + l);
          const std::uint64_t a = read_operand(in.ops[1], c);
          std::uint64_t window = 0;
          if (in.space == Space::kShared) window = kSharedWindow;
          if (in.space == Space::kLocal) window = kLocalWindow;
          const std::uint64_t r = (in.flags & kFlagToSpace) ? a - window : a + window;
          write_reg(in.ops[0], c, r, type_bits(in.type));
        }
        counters_.alu += 1;
        advance(base, mask, pc + 1);
        return true;
      case Op::kCpAsync:
        cp_async(in, base, exec);
        advance(base, mask, pc + 1);
        return true;
      case Op::kCpAsyncCommit:
        for (std::uint32_t l = 0; l < kWarp; ++l) {
          if (!(exec >> l & 1)) continue;
          const std::uint32_t t = base + l;
          for (auto& p : pending_[t]) {
            if (p.group < 0) p.group = static_cast<std::int32_t>(next_group_[t]);
          }
          ++next_group_[t];
        }
        advance(base, mask, pc + 1);
        return true;
      case Op::kCpAsyncWait:
      case Op::kCpAsyncWaitAll:
        for (std::uint32_t l = 0; l < kWarp; ++l) {
          if (!(exec >> l & 1)) continue;
          const std::uint32_t t = base + l;
          if (in.op == Op::kCpAsyncWaitAll) {
            for (auto& p : pending_[t]) {
              if (p.group < 0) p.group = static_cast<std::int32_t>(next_group_[t]);
            }
            ++next_group_[t];
          }
          const std::int64_t keep = in.op == Op::kCpAsyncWait ? in.aux : 0;
          // Complete every committed group older than the newest `keep` ones.
          const std::int64_t limit = static_cast<std::int64_t>(next_group_[t]) - keep;
          land(t, in, limit);
        }
        advance(base, mask, pc + 1);
        return true;
      default:
        fault(base, in, "instruction not executable here");
    }
  }

  // Releases every barrier whose expected threads have all arrived (a count given by the
  // instruction, else every thread still running). Returns whether any was released.
  bool release_barriers(std::uint32_t live) {
    bool released = false;
    for (std::uint32_t id = 0; id < bars_.size(); ++id) {
      BarrierState& b = bars_[id];
      if (b.arrived == 0) continue;
      const std::uint32_t expected = b.expected ? b.expected : live;
      if (b.arrived < expected) continue;
      for (std::uint32_t t = 0; t < nthreads_; ++t) {
        if (status_[t] == Status::kBarrier && bar_of_[t] == id) status_[t] = Status::kReady;
      }
      b = BarrierState{};
      released = true;
    }
    if (released) ++epoch_;
    return released;
  }

  void advance(std::uint32_t base, std::uint32_t mask, std::uint32_t next) {
    for (std::uint32_t l = 0; l < kWarp; ++l) {
      if ((mask >> l & 1) && status_[base + l] != Status::kExited) pc_[base + l] = next;
    }
  }

  void classify(Op op) {
    switch (op) {
      case Op::kCvt:
      case Op::kCvtPack: counters_.conversions += 1; break;
      case Op::kFma:
      case Op::kRcp:
      case Op::kSqrt:
      case Op::kRsqrt:
      case Op::kEx2:
      case Op::kLg2:
      case Op::kSin:
      case Op::kCos:
      case Op::kTanh:
      case Op::kDiv: counters_.fpu += 1; break;
      default: counters_.alu += 1; break;
    }
  }

  // ld / st of any width and vector form.
  void mem_access(const DInst& in, std::uint32_t base, std::uint32_t exec) {
    const bool store = in.op == Op::kSt;
    const int bits = in.bits;
    const std::uint32_t elem = static_cast<std::uint32_t>(std::max(bits / 8, 1));
    const std::uint32_t size = elem * in.vec;
    const DOperand& addr_op = store ? in.ops[0] : in.ops[1];
    const DOperand& val_op = store ? in.ops[1] : in.ops[0];
    std::uint64_t addrs[kWarp] = {0};
    Space space = in.space;
    const Allocation* hint = nullptr;
    for (std::uint32_t l = 0; l < kWarp; ++l) {
      if (!(exec >> l & 1)) continue;
      const std::uint32_t t = base + l;
      LaneCtx& c = lane_ctx(t);
      const Target tg = resolve(in.space, address(addr_op, c));
      space = tg.space;
      addrs[l] = tg.addr;
      std::uint8_t* p = access(t, in, tg, size, store, &hint);
      if (tg.space == Space::kShared) {
        if (store) shared_write_mark(t, in, tg.addr, size);
        else shared_read_check(t, in, tg.addr, size);
      }
      for (std::uint32_t e = 0; e < in.vec; ++e) {
        std::uint8_t* q = p + e * elem;
        if (store) {
          std::uint64_t v;
          if (val_op.kind == DOperand::Kind::kVec) {
            v = val_op.vec_imm[e] ? val_op.vec_bits[e] : c.regs[val_op.vec[e]];
          } else {
            v = read_operand(val_op, c);
          }
          std::memcpy(q, &v, elem);  // little endian: the low bytes
        } else {
          std::uint64_t v = 0;
          std::memcpy(&v, q, elem);
          if (is_signed(in.type) && elem < 8) {
            const int sh = 64 - 8 * static_cast<int>(elem);
            v = static_cast<std::uint64_t>(static_cast<std::int64_t>(v << sh) >> sh);
          }
          if (val_op.kind == DOperand::Kind::kVec) {
            if (val_op.vec[e] != kSinkSlot) c.regs[val_op.vec[e]] = v;
          } else if (val_op.kind == DOperand::Kind::kReg) {
            // NOTE: a narrow signed load into a wider register keeps its sign extension;
            // registers otherwise hold zero-extended values.
            c.regs[val_op.reg] = v;
          }
        }
      }
    }
    if (exec == 0) return;
    switch (space) {
      case Space::kShared:
        (store ? counters_.shared_stores : counters_.shared_loads) += 1;
        count_shared(addrs, exec, size);
        break;
      case Space::kGlobal:
        (store ? counters_.global_stores : counters_.global_loads) += 1;
        count_global(addrs, exec, size, !store);
        break;
      case Space::kLocal: counters_.local_accesses += 1; break;
      default: break;
    }
  }

  static bool is_signed(ScalarType t) {
    return t == ScalarType::kS8 || t == ScalarType::kS16 || t == ScalarType::kS32 || t == ScalarType::kS64;
  }

  void atomic(const DInst& in, std::uint32_t base, std::uint32_t exec);
  void cp_async(const DInst& in, std::uint32_t base, std::uint32_t exec);
  void land(std::uint32_t t, const DInst& in, std::int64_t group_limit);
  bool is_collective(Op op) const {
    return op == Op::kShfl || op == Op::kVote || op == Op::kMatch || op == Op::kRedux || op == Op::kLdmatrix ||
           op == Op::kStmatrix || op == Op::kMma || op == Op::kBarWarp || op == Op::kActivemask;
  }
  bool collective(std::uint32_t w, std::uint32_t pc, std::uint32_t mask, std::uint32_t exec, const DInst& in);
  std::uint32_t member_mask(const DInst& in, const DOperand& o, std::uint32_t base, std::uint32_t exec);

  const GridLaunch& l_;
  const SimFunction& fn_;
  SimCounters& counters_;
  std::uint32_t nthreads_ = 0, nwarps_ = 0, smem_bytes_ = 0;
  std::uint32_t ctaid_[3] = {0, 0, 0};
  std::vector<std::uint64_t> regs_;
  std::vector<std::uint32_t> pc_;
  std::vector<Status> status_;
  std::vector<std::uint8_t> waiting_, carry_;
  std::vector<std::uint8_t> local_, shared_, shadow_;
  std::vector<RaceCell> race_;
  std::vector<std::vector<PendingCopy>> pending_;
  std::vector<std::uint32_t> next_group_;
  std::vector<LaneCtx> ctxs_;
  struct BarrierState {
    std::uint32_t arrived = 0;
    std::uint32_t expected = 0;  // 0: every running thread
  };
  std::array<BarrierState, 16> bars_{};
  std::vector<std::uint8_t> bar_of_;  // the barrier a waiting thread waits on
  std::uint32_t epoch_ = 1;
  std::uint64_t clock_ = 0;
};

#include "sim/sim_exec_async.inc"
#include "sim/sim_exec_collective.inc"

}  // namespace

SimCounters run_grid(const GridLaunch& l) {
  const auto start = std::chrono::steady_clock::now();
  check_host_fp_env();  // the scalar semantics assume the host's default rounding mode
  const std::uint64_t ctas = static_cast<std::uint64_t>(l.grid.x) * l.grid.y * l.grid.z;
  unsigned workers = l.options.host_threads > 0 ? static_cast<unsigned>(l.options.host_threads)
                                                : std::max(1u, std::thread::hardware_concurrency());
  workers = static_cast<unsigned>(std::min<std::uint64_t>(workers, ctas));
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string first_error;
  std::uint64_t first_error_cta = UINT64_MAX;
  std::vector<SimCounters> counters(workers);
  auto work = [&](unsigned wi) {
    Cta cta(l, counters[wi]);
    for (std::uint64_t i = next++; i < ctas && !failed.load(std::memory_order_relaxed); i = next++) {
      try {
        cta.run(static_cast<std::uint32_t>(i));
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        // NOTE: report the lowest-numbered failing CTA seen, so messages are stable.
        if (i < first_error_cta) {
          first_error_cta = i;
          first_error = e.what();
        }
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < workers; ++i) pool.emplace_back(work, i);
  if (workers > 0) work(0);
  for (auto& t : pool) t.join();
  if (failed) throw Error("sim", __FILE__, __LINE__, first_error);
  SimCounters total;
  for (const auto& c : counters) total += c;
  total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return total;
}

}  // namespace qjit::sim
