#include "sim/faults.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace praetor::sim {

namespace {

double rate(Rng& rng, double max) { return rng.unit() * max; }

// One partition episode: random halves, a one-way cut, an isolated node, or a datacenter split.
void start_partition(World& w, Rng& rng, const std::vector<std::string>& dcs) {
  NodeSet all = w.network().all_nodes();
  std::uint64_t shape = rng.uniform(dcs.size() >= 2 ? 4 : 3);
  if (shape == 3) {
    std::vector<std::string> shuffled = dcs;
    rng.shuffle(shuffled);
    std::size_t cut = 1 + static_cast<std::size_t>(rng.uniform(shuffled.size() - 1));
    std::vector<std::string> a(shuffled.begin(), shuffled.begin() + static_cast<long>(cut));
    std::vector<std::string> b(shuffled.begin() + static_cast<long>(cut), shuffled.end());
    w.network().partition_datacenters(a, b);
    return;
  }
  rng.shuffle(all);
  std::size_t cut =
      1 + static_cast<std::size_t>(rng.uniform(std::max<std::size_t>(all.size() - 1, 1)));
  NodeSet a(all.begin(), all.begin() + static_cast<long>(std::min(cut, all.size())));
  NodeSet b(all.begin() + static_cast<long>(std::min(cut, all.size())), all.end());
  if (shape == 0) w.network().partition(a, b);
  if (shape == 1) w.network().partition_one_way(a, b);
  if (shape == 2) w.network().isolate(a.front());
}

}  // namespace

std::string FaultPlan::describe() const {
  std::string out = fmt::format("latency={}+{} loss={:.3f} dup={:.3f} reorder={:.3f}", latency,
                                jitter, loss, duplicate, reorder);
  if (partitions) out += " partitions";
  if (clogs) out += " clogs";
  if (crashes) out += " crashes";
  if (corruption) out += " corruption";
  if (partitions || clogs || crashes)
    out += fmt::format(" gap={} len<={}", nemesis_gap, nemesis_duration_max);
  if (skew)
    out += fmt::format(" skew<={} drift<={}ppm wall<={}", offset_max, drift_ppm_max, wall_skew_max);
  if (client_delay_max > Duration::zero())
    out += fmt::format(" client-delay<={}", client_delay_max);
  if (timer_lateness_max > Duration::zero()) {
    out += fmt::format(" timer-late<={}", timer_lateness_max);
  }
  return out;
}

FaultPlan plan_faults(Rng& rng, const FaultProfile& profile) {
  FaultPlan plan;
  // Every draw happens whether or not its class is on, so turning one class off in a profile
  // does not reshuffle the rates of the others for the same seed.
  bool net_on = rng.chance(1, 2), loss_on = rng.chance(1, 2), dup_on = rng.chance(1, 2);
  bool reorder_on = rng.chance(1, 2);
  Duration latency = rng.between(Duration::microseconds(200), Duration::milliseconds(20));
  Duration jitter = rng.between(Duration::zero(), Duration::milliseconds(50));
  double loss = rate(rng, 0.30), dup = rate(rng, 0.50), reorder = rate(rng, 0.30);
  bool part_on = rng.chance(1, 2), clog_on = rng.chance(1, 2), crash_on = rng.chance(1, 2);
  Duration gap = rng.between(Duration::milliseconds(200), Duration::seconds(5));
  Duration len = rng.between(Duration::milliseconds(100), Duration::seconds(5));
  bool skew_on = rng.chance(1, 2);
  Duration offset = rng.between(Duration::zero(), Duration::seconds(30));
  std::int64_t drift = rng.between(0, 500);
  Duration wall = rng.between(Duration::zero(), Duration::minutes(10));
  bool client_on = rng.chance(1, 2);
  Duration client = rng.between(Duration::milliseconds(1), Duration::milliseconds(500));
  bool timer_on = rng.chance(1, 2);
  Duration late = rng.between(Duration::microseconds(100), Duration::milliseconds(200));
  bool corrupt_on = rng.chance(1, 2);

  if (profile.network && net_on) {
    plan.latency = latency;
    plan.jitter = jitter;
    plan.loss = loss_on ? loss : 0;
    plan.duplicate = dup_on ? dup : 0;
    plan.reorder = reorder_on ? reorder : 0;
  }
  plan.partitions = profile.partitions && part_on;
  plan.clogs = profile.clogs && clog_on;
  plan.crashes = profile.crashes && crash_on;
  plan.corruption = plan.crashes && profile.corruption && corrupt_on;
  plan.nemesis_gap = gap;
  plan.nemesis_duration_max = len;
  if (profile.clocks && skew_on) {
    plan.skew = true;
    plan.offset_max = offset;
    plan.drift_ppm_max = drift;
    plan.wall_skew_max = wall;
  }
  if (profile.client_delays && client_on) plan.client_delay_max = client;
  if (profile.timer_lateness && timer_on) plan.timer_lateness_max = late;
  return plan;
}

namespace {

// Links, client latency, clocks and timer lateness: the parts of a plan that hold all run long.
void apply_static_faults(World& world, const FaultPlan& plan, Rng& rng) {
  LinkConfig link;
  link.latency = plan.latency;
  link.jitter = plan.jitter;
  link.loss = plan.loss;
  link.duplicate = plan.duplicate;
  link.reorder = plan.reorder;
  world.network().set_default_link(link);
  if (plan.client_delay_max > Duration::zero()) {
    world.set_client_latency(Duration::microseconds(100), plan.client_delay_max);
  }
  for (std::size_t i = 0; i < world.node_count(); ++i) {
    const std::string& name = world.name_of(i);
    if (plan.skew) {
      ClockModel clock;
      clock.offset = rng.between(Duration::zero(), plan.offset_max);
      clock.drift_ppm = rng.between(-plan.drift_ppm_max, plan.drift_ppm_max);
      clock.wall_skew = rng.between(Duration::zero() - plan.wall_skew_max, plan.wall_skew_max);
      world.set_clock(name, clock);
    }
    world.set_timer_lateness(name, plan.timer_lateness_max);
  }
}

// Swizzle-clog (FoundationDB's favourite): clog a random subset one node at a time, then
// unclog them in a different random order.
void schedule_swizzle(World& world, Rng& rng, Instant t, Instant end) {
  NodeSet subset = world.network().all_nodes();
  rng.shuffle(subset);
  subset.resize(1 + rng.uniform(subset.size()));
  Duration step = (end - t) / static_cast<std::int64_t>(2 * subset.size());
  for (std::size_t k = 0; k < subset.size(); ++k) {
    world.schedule(t + step * static_cast<std::int64_t>(k), "clog " + subset[k],
                   [n = subset[k], end](World& w) { w.network().clog(n, end); });
  }
  rng.shuffle(subset);
  for (std::size_t k = 0; k < subset.size(); ++k) {
    Instant at = end - step * static_cast<std::int64_t>(subset.size() - k - 1);
    world.schedule(std::max(at, t), "unclog " + subset[k],
                   [n = subset[k]](World& w) { w.network().unclog(n); });
  }
}

void schedule_crash(World& world, const FaultPlan& plan, const std::string& victim, Instant t,
                    Instant end) {
  world.schedule(t, "crash " + victim, [victim](World& w) { w.crash(victim); });
  if (plan.corruption) {
    world.schedule(t + (end - t) / 2, "corrupt " + victim,
                   [victim](World& w) { w.corrupt_storage(victim); });
  }
  world.schedule(end, "restart " + victim, [victim](World& w) { w.restart(victim); });
}

}  // namespace

void install_faults(World& world, const FaultPlan& plan, Rng rng, Instant from, Instant until) {
  apply_static_faults(world, plan, rng);
  enum class Nemesis { kPartition, kClog, kCrash };
  std::vector<Nemesis> kinds;
  if (plan.partitions) kinds.push_back(Nemesis::kPartition);
  if (plan.clogs) kinds.push_back(Nemesis::kClog);
  if (plan.crashes) kinds.push_back(Nemesis::kCrash);
  std::vector<std::string> dcs = world.network().datacenters();
  // Partition shapes are drawn when the episode starts, from a stream of their own.
  auto shape_rng = std::make_shared<Rng>(rng.fork());
  Instant t = from;
  // One episode at a time, separated by random gaps, none past `until`.
  while (!kinds.empty()) {
    t = t + rng.between(Duration::zero(), plan.nemesis_gap * 2);
    if (t >= until) break;
    Instant end =
        std::min(t + rng.between(Duration::milliseconds(50), plan.nemesis_duration_max), until);
    Nemesis kind = kinds[rng.uniform(kinds.size())];
    NodeSet nodes = world.network().all_nodes();
    std::string victim = nodes[rng.uniform(nodes.size())];
    switch (kind) {
      case Nemesis::kPartition:
        world.schedule(t, "partition", [shape_rng, dcs](World& w) {
          start_partition(w, *shape_rng, dcs);
          w.trace().add(w.now(), "nemesis", "cuts " + w.network().describe_cuts());
        });
        world.schedule(end, "heal", [](World& w) { w.network().heal(); });
        break;
      case Nemesis::kClog:
        schedule_swizzle(world, rng, t, end);
        break;
      case Nemesis::kCrash:
        schedule_crash(world, plan, victim, t, end);
        break;
    }
    t = end;
  }
  world.schedule(until, "heal all", [](World& w) {
    w.network().heal();
    w.network().unclog_all();
    LinkConfig calm = w.network().default_link();
    calm.loss = calm.duplicate = calm.reorder = 0;
    w.network().set_default_link(calm);
    for (std::size_t i = 0; i < w.node_count(); ++i) {
      if (!w.is_up(w.name_of(i))) w.restart(w.name_of(i));
    }
  });
}

}  // namespace praetor::sim
