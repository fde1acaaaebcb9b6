// PTX AST -> decoded instructions (sim_program.hpp).

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_map>

#include "common/error.hpp"
#include "sim/sim_decode.hpp"
#include "sim/sim_program.hpp"
#include "sim/warp_ops.hpp"

namespace qjit::sim {

namespace {

const std::unordered_map<std::string, Op>& opcode_table() {
  static const std::unordered_map<std::string, Op> t = {
      {"mov", Op::kMov},       {"ld", Op::kLd},           {"ldu", Op::kLd},         {"st", Op::kSt},
      {"cvta", Op::kCvta},     {"cvt", Op::kCvt},         {"add", Op::kAdd},        {"sub", Op::kSub},
      {"mul", Op::kMul},       {"mad", Op::kMad},         {"fma", Op::kFma},        {"div", Op::kDiv},
      {"rem", Op::kRem},       {"abs", Op::kAbs},         {"neg", Op::kNeg},        {"min", Op::kMin},
      {"max", Op::kMax},       {"and", Op::kAnd},         {"or", Op::kOr},          {"xor", Op::kXor},
      {"not", Op::kNot},       {"cnot", Op::kCnot},       {"shl", Op::kShl},        {"shr", Op::kShr},
      {"shf", Op::kShf},       {"prmt", Op::kPrmt},       {"lop3", Op::kLop3},      {"bfe", Op::kBfe},
      {"bfi", Op::kBfi},       {"brev", Op::kBrev},       {"popc", Op::kPopc},      {"clz", Op::kClz},
      {"bfind", Op::kBfind},   {"setp", Op::kSetp},       {"selp", Op::kSelp},      {"slct", Op::kSlct},
      {"rcp", Op::kRcp},       {"sqrt", Op::kSqrt},       {"rsqrt", Op::kRsqrt},    {"ex2", Op::kEx2},
      {"lg2", Op::kLg2},       {"sin", Op::kSin},         {"cos", Op::kCos},        {"tanh", Op::kTanh},
      {"copysign", Op::kCopysign}, {"testp", Op::kTestp}, {"mul24", Op::kMul24},    {"mad24", Op::kMad24},
      {"sad", Op::kSad},       {"dp4a", Op::kDp4a},       {"dp2a", Op::kDp2a},      {"addc", Op::kAddc},
      {"subc", Op::kSubc},     {"bra", Op::kBra},         {"ret", Op::kRet},        {"exit", Op::kExit},
      {"bar", Op::kBar},       {"barrier", Op::kBar},     {"membar", Op::kMembar},  {"fence", Op::kMembar},
      {"atom", Op::kAtom},     {"red", Op::kRed},         {"shfl", Op::kShfl},      {"vote", Op::kVote},
      {"match", Op::kMatch},   {"redux", Op::kRedux},     {"ldmatrix", Op::kLdmatrix}, {"stmatrix", Op::kStmatrix},
      {"mma", Op::kMma},       {"activemask", Op::kActivemask}, {"prefetch", Op::kNop}, {"prefetchu", Op::kNop},
      {"nanosleep", Op::kNop}, {"pmevent", Op::kNop},
  };
  return t;
}

bool is_type_name(const std::string& m) {
  static const std::set<std::string> types = {"b8",  "b16", "b32",  "b64",   "u8",     "u16",    "u32",    "u64",
                                              "s8",  "s16", "s32",  "s64",   "f16",    "f32",    "f64",    "bf16",
                                              "f16x2", "bf16x2", "e4m3x2", "e5m2x2", "pred", "b128"};
  return types.count(m) > 0;
}

struct Decoder {
  const ptx::Module& module;
  const ptx::Function& fn;
  SimFunction& out;
  GlobalResolver resolve;
  void* ctx;
  std::unordered_map<std::string, std::uint32_t> slots;
  std::unordered_map<std::string, std::uint32_t> params;  // name -> offset
  std::unordered_map<std::string, std::uint32_t> locals;  // .local name -> offset

  [[noreturn]] void fail(const ptx::Instruction& in, const std::string& why) const {
    QJIT_THROW("sim", "{}: {} at PTX line {} of {}: '{}'", fn.name, why, in.line, module.name, in.text);
  }

  std::uint32_t slot(const ptx::Instruction& in, const std::string& name) const {
    auto it = slots.find(name);
    if (it == slots.end()) fail(in, fmt::format("undeclared register {}", name));
    return it->second;
  }

  static bool special_of(const std::string& n, Special& s) {
    static const std::unordered_map<std::string, Special> t = {
        {"%tid.x", Special::kTidX},       {"%tid.y", Special::kTidY},       {"%tid.z", Special::kTidZ},
        {"%ntid.x", Special::kNtidX},     {"%ntid.y", Special::kNtidY},     {"%ntid.z", Special::kNtidZ},
        {"%ctaid.x", Special::kCtaidX},   {"%ctaid.y", Special::kCtaidY},   {"%ctaid.z", Special::kCtaidZ},
        {"%nctaid.x", Special::kNctaidX}, {"%nctaid.y", Special::kNctaidY}, {"%nctaid.z", Special::kNctaidZ},
        {"%laneid", Special::kLaneid},    {"%warpid", Special::kWarpid},    {"%nwarpid", Special::kNwarpid},
        {"%smid", Special::kSmid},        {"%nsmid", Special::kNsmid},      {"%clock", Special::kClock},
        {"%clock64", Special::kClock64},  {"%globaltimer", Special::kGlobaltimer},
        {"%lanemask_eq", Special::kLanemaskEq}, {"%lanemask_lt", Special::kLanemaskLt},
        {"%lanemask_le", Special::kLanemaskLe}, {"%lanemask_gt", Special::kLanemaskGt},
        {"%lanemask_ge", Special::kLanemaskGe}, {"%dynamic_smem_size", Special::kDynamicSmemSize},
        {"%total_smem_size", Special::kTotalSmemSize},
    };
    auto it = t.find(n);
    if (it == t.end()) return false;
    s = it->second;
    return true;
  }

  // Address of a symbol in its own state space.
  bool symbol_address(const std::string& name, std::uint64_t& addr) {
    if (auto it = params.find(name); it != params.end()) {
      addr = it->second;
      return true;
    }
    if (auto it = out.shared_offsets.find(name); it != out.shared_offsets.end()) {
      addr = it->second;
      return true;
    }
    if (auto it = locals.find(name); it != locals.end()) {
      addr = it->second;
      return true;
    }
    for (const auto& g : module.globals) {
      if (g.name == name && (g.space == "global" || g.space == "const")) {
        addr = resolve(ctx, name);
        return true;
      }
    }
    return false;
  }

  DOperand operand(const ptx::Instruction& in, const ptx::Operand& o) {
    DOperand d;
    d.negate = o.negate;
    using K = ptx::Operand::Kind;
    switch (o.kind) {
      case K::kRegister: {
        Special s;
        if (special_of(o.name, s)) {
          d.kind = DOperand::Kind::kSpecial;
          d.imm = static_cast<std::uint64_t>(s);
        } else {
          d.kind = DOperand::Kind::kReg;
          d.reg = slot(in, o.name);
        }
        return d;
      }
      case K::kImmInt: d.kind = DOperand::Kind::kImm; d.imm = static_cast<std::uint64_t>(o.imm); return d;
      case K::kImmF32:
      case K::kImmF64: d.kind = DOperand::Kind::kImm; d.imm = o.bits; return d;
      case K::kSink: d.kind = DOperand::Kind::kSink; return d;
      case K::kSymbol: {
        std::uint64_t a = 0;
        if (!symbol_address(o.name, a)) fail(in, fmt::format("unknown symbol {}", o.name));
        d.kind = DOperand::Kind::kImm;
        d.imm = a;
        return d;
      }
      case K::kAddress: {
        d.kind = DOperand::Kind::kAddr;
        d.imm = static_cast<std::uint64_t>(o.imm);
        if (!o.name.empty()) {
          std::uint64_t a = 0;
          if (slots.count(o.name)) {
            d.has_base = true;
            d.reg = slots.at(o.name);
          } else if (symbol_address(o.name, a)) {
            d.imm += a;
          } else {
            fail(in, fmt::format("unknown address base {}", o.name));
          }
        }
        return d;
      }
      case K::kVector: {
        d.kind = DOperand::Kind::kVec;
        if (o.elems.size() > d.vec.size()) fail(in, "vector operand too long");
        d.n = static_cast<std::uint8_t>(o.elems.size());
        for (size_t i = 0; i < o.elems.size(); ++i) {
          const auto& e = o.elems[i];
          if (e.kind == K::kSink) d.vec[i] = kSinkSlot;
          else if (e.kind == K::kRegister) d.vec[i] = slot(in, e.name);
          else if (e.kind == K::kImmInt || e.kind == K::kImmF32 || e.kind == K::kImmF64) {
            d.vec_imm[i] = true;
            d.vec_bits[i] = e.kind == K::kImmInt ? static_cast<std::uint64_t>(e.imm) : e.bits;
          } else {
            fail(in, "unsupported vector element");
          }
        }
        return d;
      }
      case K::kLabel: {
        auto it = fn.labels.find(o.name);
        if (it == fn.labels.end()) fail(in, fmt::format("unknown label {}", o.name));
        d.kind = DOperand::Kind::kImm;
        d.imm = static_cast<std::uint64_t>(it->second);
        return d;
      }
    }
    fail(in, "unsupported operand");
  }

  static Space space_of(const std::vector<std::string>& mods) {
    for (const auto& m : mods) {
      if (m == "global") return Space::kGlobal;
      if (m == "shared" || m == "shared::cta") return Space::kShared;
      if (m == "local") return Space::kLocal;
      if (m == "param") return Space::kParam;
      if (m == "const") return Space::kConst;
    }
    return Space::kGeneric;
  }

  static bool has(const std::vector<std::string>& mods, const char* m) {
    return std::find(mods.begin(), mods.end(), m) != mods.end();
  }

  static Cmp cmp_of(const std::string& m, bool& ok) {
    static const std::unordered_map<std::string, Cmp> t = {
        {"eq", Cmp::kEq},   {"ne", Cmp::kNe},   {"lt", Cmp::kLt},   {"le", Cmp::kLe},   {"gt", Cmp::kGt},
        {"ge", Cmp::kGe},   {"lo", Cmp::kLo},   {"ls", Cmp::kLs},   {"hi", Cmp::kHi},   {"hs", Cmp::kHs},
        {"equ", Cmp::kEqu}, {"neu", Cmp::kNeu}, {"ltu", Cmp::kLtu}, {"leu", Cmp::kLeu}, {"gtu", Cmp::kGtu},
        {"geu", Cmp::kGeu}, {"num", Cmp::kNum}, {"nan", Cmp::kNan}};
    auto it = t.find(m);
    ok = it != t.end();
    return ok ? it->second : Cmp::kEq;
  }

  DInst decode(const ptx::Instruction& in) {
    DInst d;
    d.line = in.line;
    d.source = &in;
    if (!in.guard.empty()) {
      d.guard = static_cast<std::int32_t>(slot(in, in.guard));
      d.guard_negated = in.guard_negated;
    }
    const auto& tab = opcode_table();
    std::string opcode = in.opcode;
    auto it = tab.find(opcode);
    if (it == tab.end() && opcode == "cp" && !in.mods.empty() && in.mods[0] == "async") {
      if (in.mods.size() >= 2 && in.mods[1] == "commit_group") d.op = Op::kCpAsyncCommit;
      else if (in.mods.size() >= 2 && in.mods[1] == "wait_group") d.op = Op::kCpAsyncWait;
      else if (in.mods.size() >= 2 && in.mods[1] == "wait_all") d.op = Op::kCpAsyncWaitAll;
      else if (in.mods.size() >= 2 && (in.mods[1] == "ca" || in.mods[1] == "cg")) d.op = Op::kCpAsync;
      else fail(in, "unsupported cp.async form");
    } else if (it == tab.end()) {
      fail(in, fmt::format("unsupported instruction '{}'", opcode));
    } else {
      d.op = it->second;
    }
    const auto& mods = in.mods;
    // Types: the last type suffix is the instruction type; cvt/slct/setp/etc. read two.
    std::vector<ScalarType> types;
    for (const auto& m : mods) {
      if (is_type_name(m) && m != "b128") types.push_back(parse_scalar_type(m));
      if (m == "b128") fail(in, ".b128 operands are not supported");
    }
    // Type suffixes in order: cvt/slct/dp4a/dp2a/mma name two or more (first = destination),
    // every other instruction's type is its last suffix.
    if (!types.empty()) {
      const bool first_is_dest = d.op == Op::kCvt || d.op == Op::kSlct || d.op == Op::kDp4a || d.op == Op::kDp2a ||
                                 d.op == Op::kMma;
      d.type = first_is_dest ? types.front() : types.back();
      d.type2 = types.size() > 1 ? types[1] : d.type;
    }
    d.bits = static_cast<std::uint8_t>(type_bits(d.type));
    if (is_float(d.type)) d.flags |= kFlagFloat;
    d.space = space_of(mods);
    for (const auto& m : mods) {
      if (m == "v2") d.vec = 2;
      if (m == "v4") d.vec = 4;
      if (m == "v8") d.vec = 8;
      if (m == "hi") d.flags |= kFlagHi;
      if (m == "wide") d.flags |= kFlagWide;
      if (m == "sat") d.flags |= kFlagSat;
      if (m == "NaN") d.flags |= kFlagNaN;
      if (m == "ftz") d.flags |= kFlagFtz;
      if (m == "approx") d.flags |= kFlagApprox;
      if (m == "full") d.flags |= kFlagFull;
      if (m == "cc") d.flags |= kFlagCc;
      if (m == "trans") d.flags |= kFlagTrans;
      if (m == "to") d.flags |= kFlagToSpace;
      if (m == "shiftamt") d.flags |= kFlagShiftamt;
      if (m == "clamp") d.flags |= kFlagClamp;
      if (m == "l") d.flags |= kFlagLeft;
      if (m == "relu") d.flags |= kFlagRelu;
      apply_cvt_mod(d.cvt, m);  // rounding, ftz, sat, satfinite, relu
    }
    if (d.op == Op::kAddc || d.op == Op::kSubc) d.flags |= kFlagCarryIn;

    for (const auto& o : in.operands) {
      if (d.nops >= d.ops.size()) fail(in, "too many operands");
      d.ops[d.nops++] = operand(in, o);
    }

    switch (d.op) {
      case Op::kBra:
        if (d.nops != 1 || d.ops[0].kind != DOperand::Kind::kImm) fail(in, "bra needs a label");
        d.target = static_cast<std::uint32_t>(d.ops[0].imm);
        break;
      case Op::kSetp: {
        bool ok = false;
        for (const auto& m : mods) {
          Cmp c = cmp_of(m, ok);
          if (ok) {
            d.aux = static_cast<std::uint32_t>(c);
            break;
          }
        }
        if (!ok) fail(in, "setp without a comparison");
        BoolOp b = has(mods, "and") ? BoolOp::kAnd : has(mods, "or") ? BoolOp::kOr : has(mods, "xor") ? BoolOp::kXor : BoolOp::kNone;
        d.aux |= static_cast<std::uint32_t>(b) << 8;
        // "setp.lt.s32 %p1|%p2, a, b" is parsed as two destination operands by the parser
        // only when written with '|'; NVRTC does not emit that form.
        break;
      }
      case Op::kSlct:
        if (types.size() < 2) fail(in, "slct needs two types");
        break;
      case Op::kCvt:
        if (types.size() < 2) fail(in, "cvt needs destination and source types");
        if (d.nops == 3) d.op = Op::kCvtPack;
        try {
          check_cvt(d.type, d.type2, d.cvt, d.nops - 1);
        } catch (const Error& e) {
          fail(in, e.message());
        }
        break;
      case Op::kMul:
      case Op::kMad:
        if (has(mods, "lo")) d.flags &= ~(kFlagHi | kFlagWide);
        break;
      case Op::kBar: {
        // bar.sync / barrier.sync [.aligned] a{, b};  bar.arrive a, b;  bar.warp.sync mask
        if (has(mods, "warp")) d.op = Op::kBarWarp;
        else if (has(mods, "arrive")) d.op = Op::kBarArrive;
        else if (!(has(mods, "sync") || mods.empty() || has(mods, "aligned"))) fail(in, "unsupported barrier form");
        if (has(mods, "red")) fail(in, "bar.red is not supported");
        break;
      }
      case Op::kAtom:
      case Op::kRed: {
        static const std::unordered_map<std::string, AtomOp> ops = {
            {"add", AtomOp::kAdd}, {"min", AtomOp::kMin}, {"max", AtomOp::kMax}, {"and", AtomOp::kAnd},
            {"or", AtomOp::kOr},   {"xor", AtomOp::kXor}, {"exch", AtomOp::kExch}, {"cas", AtomOp::kCas},
            {"inc", AtomOp::kInc}, {"dec", AtomOp::kDec}};
        bool found = false;
        for (const auto& m : mods) {
          if (auto o = ops.find(m); o != ops.end()) {
            d.aux = static_cast<std::uint32_t>(o->second);
            found = true;
          }
        }
        if (!found) fail(in, "atomic without an operation");
        break;
      }
      case Op::kShfl: {
        const char* modes[] = {"up", "down", "bfly", "idx"};
        bool found = false;
        for (std::uint32_t i = 0; i < 4; ++i) {
          if (has(mods, modes[i])) d.aux = i, found = true;
        }
        if (!found) fail(in, "shfl without a mode");
        if (!has(mods, "sync")) fail(in, "shfl without .sync is not supported (sm_70+ requires it)");
        break;
      }
      case Op::kVote: {
        const char* modes[] = {"all", "any", "uni", "ballot"};
        bool found = false;
        for (std::uint32_t i = 0; i < 4; ++i) {
          if (has(mods, modes[i])) d.aux = i, found = true;
        }
        if (!found || !has(mods, "sync")) fail(in, "unsupported vote form");
        break;
      }
      case Op::kMatch:
        d.aux = has(mods, "all") ? 1 : 0;
        break;
      case Op::kRedux: {
        const char* modes[] = {"add", "min", "max", "and", "or", "xor"};
        bool found = false;
        for (std::uint32_t i = 0; i < 6; ++i) {
          if (has(mods, modes[i])) d.aux = i, found = true;
        }
        if (!found) fail(in, "redux without an operation");
        break;
      }
      case Op::kLdmatrix:
      case Op::kStmatrix:
        d.aux = has(mods, "x4") ? 4 : has(mods, "x2") ? 2 : 1;
        if (!has(mods, "m8n8")) fail(in, "only m8n8 ldmatrix/stmatrix shapes are supported");
        break;
      case Op::kCpAsync:
        if (d.nops < 3) fail(in, "cp.async needs dst, src and size");
        if (d.ops[2].kind != DOperand::Kind::kImm) fail(in, "cp.async size must be an immediate");
        d.aux = static_cast<std::uint32_t>(d.ops[2].imm);
        if (d.aux != 4 && d.aux != 8 && d.aux != 16) fail(in, "cp.async size must be 4, 8 or 16");
        if (d.nops >= 4) d.flags |= kFlagAsyncZfill;
        break;
      case Op::kCpAsyncWait:
        if (d.nops != 1 || d.ops[0].kind != DOperand::Kind::kImm) fail(in, "cp.async.wait_group needs an immediate");
        d.aux = static_cast<std::uint32_t>(d.ops[0].imm);
        break;
      case Op::kPrmt:
        d.aux = static_cast<std::uint32_t>(PrmtMode::kDefault);
        for (const auto& m : mods) {
          if (m == "f4e" || m == "b4e" || m == "rc8" || m == "ecl" || m == "ecr" || m == "rc16") {
            d.aux = static_cast<std::uint32_t>(parse_prmt_mode(m));
          }
        }
        break;
      case Op::kTestp:
        d.aux = static_cast<std::uint32_t>(parse_testp_op(mods.empty() ? "" : mods.front()));
        break;
      case Op::kMma:
        d.mma = parse_mma(mods);  // unsupported shapes and types fail at load time
        break;
      default:
        break;
    }
    return d;
  }
};

// Every symbol a function body names (to lay out only the shared variables it uses).
std::set<std::string> referenced_symbols(const ptx::Function& fn) {
  std::set<std::string> out;
  std::function<void(const ptx::Operand&)> visit = [&](const ptx::Operand& o) {
    if (o.kind == ptx::Operand::Kind::kSymbol || o.kind == ptx::Operand::Kind::kAddress) out.insert(o.name);
    for (const auto& e : o.elems) visit(e);
  };
  for (const auto& in : fn.body) {
    for (const auto& o : in.operands) visit(o);
  }
  return out;
}

std::uint32_t align_up(std::uint64_t v, std::uint64_t a) { return static_cast<std::uint32_t>((v + a - 1) / a * a); }

SimFunction decode_function(const ptx::Module& m, const ptx::Function& fn, GlobalResolver resolve, void* ctx) {
  SimFunction f;
  f.name = fn.name;
  f.is_entry = fn.is_entry;
  for (int i = 0; i < 3; ++i) {
    f.maxntid[i] = fn.maxntid[i];
    f.reqntid[i] = fn.reqntid[i];
  }
  Decoder d{m, fn, f, resolve, ctx, {}, {}, {}};
  for (const auto& r : fn.regs) {
    if (d.slots.emplace(r.name, static_cast<std::uint32_t>(f.reg_names.size())).second) f.reg_names.push_back(r.name);
  }
  f.nregs = static_cast<std::uint32_t>(f.reg_names.size());
  std::uint32_t off = 0;
  for (const auto& p : fn.params) {
    const std::uint32_t a = std::max(1, p.align);
    off = align_up(off, a);
    f.params.push_back({p.name, off, static_cast<std::uint32_t>(p.bytes), a});
    d.params[p.name] = off;
    off += static_cast<std::uint32_t>(p.bytes);
  }
  f.param_bytes = off;
  // Shared memory: the module-scope and function .shared variables the body uses, then
  // the dynamic (extern) area.
  const auto used = referenced_symbols(fn);
  std::uint32_t smem = 0, dyn_align = 16;
  auto place_shared = [&](const ptx::Variable& v) {
    if (v.is_extern) {
      dyn_align = std::max<std::uint32_t>(dyn_align, std::max(1, v.align));
      return;
    }
    smem = align_up(smem, std::max(1, v.align));
    f.shared_offsets[v.name] = smem;
    smem += static_cast<std::uint32_t>(v.bytes);
  };
  std::vector<std::string> externs;
  for (const auto& v : m.globals) {
    if (v.space == "shared" && used.count(v.name)) {
      place_shared(v);
      if (v.is_extern) externs.push_back(v.name);
    }
  }
  std::uint32_t local = 0;
  for (const auto& v : fn.locals) {
    if (v.space == "shared") {
      place_shared(v);
      if (v.is_extern) externs.push_back(v.name);
    } else if (v.space == "local") {
      local = align_up(local, std::max(1, v.align));
      d.locals[v.name] = local;
      local += static_cast<std::uint32_t>(v.bytes);
    } else if (v.space != "param") {  // .param: a call sequence's, and calls fail to decode
      QJIT_THROW("sim", "{}: unsupported .{} variable {} at PTX line {}", fn.name, v.space, v.name, v.line);
    }
  }
  f.static_shared_bytes = smem;
  f.dynamic_shared_offset = align_up(smem, dyn_align);
  for (const auto& e : externs) f.shared_offsets[e] = f.dynamic_shared_offset;
  f.local_bytes = local;
  f.insts.reserve(fn.body.size());
  for (const auto& in : fn.body) f.insts.push_back(d.decode(in));
  // A function falling off its end returns.
  DInst ret;
  ret.op = Op::kRet;
  ret.line = fn.body.empty() ? fn.line : fn.body.back().line;
  f.insts.push_back(ret);
  return f;
}

}  // namespace

const SimFunction* SimModule::find(const std::string& name) const {
  for (const auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

SimModule decode_module(ptx::Module module, GlobalResolver resolve, void* ctx) {
  SimModule m;
  m.name = module.name;
  m.target = module.target;
  m.arch = module.target_arch;
  m.ast = std::move(module);
  for (const auto& fn : m.ast.functions) {
    if (!fn.is_entry) {
      // NOTE: device functions are only supported inlined (qjit's templates force it);
      // a call is rejected when decoded, so a .func that is never called is harmless.
      continue;
    }
    m.functions.push_back(decode_function(m.ast, fn, resolve, ctx));
  }
  return m;
}

}  // namespace qjit::sim
