#include "oryx/train/trainer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <thread>

#include "oryx/checkpoint/checkpoint.h"
#include "oryx/common/atomic_file.h"
#include "oryx/common/device.h"
#include "oryx/common/error.h"
#include "oryx/common/finite.h"
#include "oryx/common/progress.h"
#include "oryx/data/tokenizer.h"
#include "oryx/dist/grad_sync.h"
#include "oryx/dist/world.h"
#include "oryx/eval/loss.h"
#include "oryx/model/head_loss.h"
#include "oryx/model/model.h"
#include "oryx/train/autocast.h"
#include "oryx/train/data_source.h"
#include "oryx/train/grad_norm.h"
#include "oryx/train/lr_schedule.h"
#include "oryx/train/metrics.h"
#include "oryx/train/plot.h"
#include "oryx/train/resume_options.h"
#include "oryx/train/run_folder.h"
#include "oryx/train/step_graph.h"

namespace fs = std::filesystem;

namespace oryx {

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  std::signal(sig, SIG_DFL);  // a second signal ends the process at once
}

// Catches SIGINT and SIGTERM for the life of a run, restoring the old handlers after.
class StopSignals {
 public:
  StopSignals() {
    g_signal = 0;
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

std::vector<std::string> default_eval_schedules(const ModelConfig& c) {
  if (c.kind == ModelKind::Transformer) return {"all-A"};
  if (c.kind == ModelKind::Linear) return {"all-L"};
  return {"all-A", "all-L", "every:2:" + std::to_string(c.chunk_size)};
}

}  // namespace

static TrainSummary train_in_world(const TrainOptions& opt_in, const WorldEnv& env) {
  TrainOptions o = opt_in;
  auto t_start = std::chrono::steady_clock::now();
  if (o.threads > 0) {
    torch::set_num_threads(static_cast<int>(o.threads));
  } else if (env.size > 1) {
    const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    torch::set_num_threads(std::max(1, cores / env.local_size));
  }
  torch::Device device = world_device(o.device, env);
  bool autocast = o.precision == "bf16" || (o.precision == "auto" && device.is_cuda());
  ORYX_CHECK(!autocast || device.is_cuda(), "precision bf16 needs a CUDA device (bf16 autocast)");
  World world(env, device, std::chrono::seconds(o.dist_timeout));
  const bool main_rank = world.is_main();
  const int64_t W = world.size();
  // Only rank 0 writes (run folder, metrics, checkpoints, plots) and talks.
  if (main_rank) run_folder_claim(o.out, o.resume, o.overwrite);
  world.barrier();
  std::string ckpt_dir = (fs::path(o.out) / "ckpt").string();

  // The model: the checkpoint's when resuming, else the config's.
  bool have_ckpt = true;
  try {
    atomic_resolve_dir(ckpt_dir);
  } catch (const Error&) {
    have_ckpt = false;
  }
  ORYX_CHECK(o.resume || !have_ckpt, "run folder '", o.out,
             "' already holds a checkpoint: pass --resume to continue it, or choose another --out");
  TrainingState resumed;
  ModelConfig cfg;
  if (have_ckpt) {
    cfg = checkpoint_config(ckpt_dir);
    resumed = checkpoint_load_training(ckpt_dir);
    if (!o.config.empty()) {
      auto given = config_to_json(config_load(o.config)), saved = config_to_json(cfg);
      given.erase("weights");
      saved.erase("weights");
      ORYX_CHECK(given == saved, "--config ", o.config, " differs from the config of the checkpoint in ",
                 ckpt_dir, "; resume without --config or start a new run");
    }
  } else {
    if (o.resume && main_rank)
      std::fprintf(stderr, "oryx: no checkpoint in %s yet: starting from scratch\n", ckpt_dir.c_str());
    ORYX_CHECK(!o.config.empty(), "give a model config (--config FILE)");
    cfg = config_load(o.config);
  }
  const bool resuming = have_ckpt;
  auto data = train_data_open(o, world.rank(), W);
  ORYX_CHECK(data->vocab_size() <= cfg.vocab_size, "data ", o.data, " has vocab_size ", data->vocab_size(),
             ", more than the model's ", cfg.vocab_size);
  if (resuming)
    tokenizer_check_same("checkpoint " + ckpt_dir, checkpoint_files(ckpt_dir).tokenizer_id, "data " + o.data,
                         tokenizer_identity(data->tokenizer_spec()));
  ORYX_CHECK(o.seq_len <= cfg.max_seq_len, "seq_len ", o.seq_len, " exceeds the model's max_seq_len ",
             cfg.max_seq_len);
  if (o.eval_schedules.empty()) o.eval_schedules = default_eval_schedules(cfg);
  std::vector<Schedule> eval_schedules;
  for (const auto& s : o.eval_schedules) eval_schedules.push_back(schedule_parse(s));

  auto model = model_load(cfg, o.seed);
  model->to(device);
  model->train();
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  if (world.distributed()) {
    // Every rank built the same weights from the seed; rank 0's are copied anyway, as DDP does.
    std::vector<torch::Tensor> state;
    for (const auto& p : model->parameters()) state.push_back(p.detach());
    for (const auto& b : model->buffers()) state.push_back(b);
    torch::NoGradGuard no_grad;
    world.broadcast(state);
  }
  // Mixed-mode models can leave mode-specific weights unused in a step.
  GradSync grad_sync(world, params, cfg.kind == ModelKind::Oryx);
  AdamW optimizer(params, o.adamw);
  TrainModeSampler sampler(o.schedule, o.seed ^ 0x9E3779B97F4A7C15ULL);
  // On one GPU with one micro-batch a step, the step of a repeating batch shape and mask is
  // a replayed CUDA graph (train/step_graph.h).
  std::optional<TrainStepGraph> step_graph;
  if (TrainStepGraph::usable(device, world.distributed(), o.grad_accum)) step_graph.emplace(model, autocast, o.grad_clip);

  // A step's sequences over all ranks; each micro-batch holds batch_size per rank.
  const int64_t micro_seqs = o.batch_size * W;
  const int64_t seqs_per_step = micro_seqs * o.grad_accum;
  const int64_t tokens_per_step = seqs_per_step * o.seq_len;
  const int64_t total_steps = (o.tokens + tokens_per_step - 1) / tokens_per_step;
  LrSchedule lr{o.adamw.lr, o.min_lr_ratio, (o.warmup_tokens + tokens_per_step - 1) / tokens_per_step,
                total_steps};
  int64_t eval_every = o.eval_every > 0 ? o.eval_every : std::max<int64_t>(1, total_steps / 10);

  TrainSummary sum;
  if (resuming) {
    const auto& t = resumed.trainer;
    try {
      // Changed settings first: a changed seq_len or seed would otherwise surface as a data
      // loader error.
      const auto notices = resume_option_changes(t.contains("options") ? t.at("options") : nlohmann::json::object(),
                                                 o, ckpt_dir + "/trainer.json");
      const int64_t saved_world = t.contains("world_size") ? t.at("world_size").get<int64_t>() : 1;
      ORYX_CHECK(saved_world == W, "--resume: the run in ", ckpt_dir, " was trained by ", saved_world,
                 " process(es), this one has ", W, "; a step's batch is batch-size x processes sequences, so resume with ",
                 saved_world, " (--nproc-per-node ", saved_world, ") or start a new run");
      if (main_rank)
        for (const auto& notice : notices) std::fprintf(stderr, "oryx: note: %s\n", notice.c_str());
      sum.steps = t.at("step").get<int64_t>();
      sum.tokens = t.at("tokens").get<int64_t>();
      data->restore(t.at("loader"));
      sampler.restore(t.at("sampler").get<std::string>());
    } catch (const nlohmann::json::exception& e) {
      ORYX_FAIL(ckpt_dir, "/trainer.json: ", e.what());
    }
    ORYX_CHECK(sum.steps >= 0 && sum.tokens >= 0, ckpt_dir, "/trainer.json: step ", sum.steps, " and tokens ",
               sum.tokens, " must be counts >= 0");
    optimizer.load_state(resumed.optimizer, ckpt_dir + "/optimizer.safetensors");
    ORYX_CHECK(optimizer.steps() == sum.steps, ckpt_dir, "/optimizer.safetensors: step ", optimizer.steps(),
               " disagrees with step ", sum.steps, " of trainer.json");
    ORYX_CHECK(sum.tokens <= o.tokens, "checkpoint ", ckpt_dir, " has trained ", sum.tokens,
               " tokens, more than the budget of ", o.tokens);
  }
  std::optional<MetricsWriter> metrics;
  if (main_rank) {
    atomic_write_text((fs::path(o.out) / "run.json").string(),
                      nlohmann::json{{"options", train_options_to_json(o)}, {"model", config_to_json(cfg)}, {"processes", W}}
                              .dump(2) +
                          "\n");
    metrics.emplace((fs::path(o.out) / "metrics.jsonl").string(), sum.steps);
  }

  bool saved_ckpt = resuming;  // whether <out>/ckpt holds a checkpoint of this run
  auto save = [&](const std::string& dir) {
    TrainingState st;
    st.trainer = {{"step", sum.steps},
                  {"tokens", sum.tokens},
                  {"total_steps", total_steps},
                  {"loader", data->state()},
                  {"sampler", sampler.state()},
                  {"world_size", W},
                  {"options", train_options_to_json(o)}};
    st.optimizer = optimizer.state();
    // An update can overflow even from a finite loss and gradient (a huge --lr): such a state
    // must not replace the last good checkpoint.
    auto tensors = st.optimizer;
    for (const auto& p : model->named_parameters()) tensors.emplace_back(p.key(), p.value());
    const std::string broken = first_non_finite(tensors);
    ORYX_CHECK(broken.empty(), "training diverged by step ", sum.steps, ": '", broken,
               "' holds NaN or Inf (try a lower --lr); stopped without saving it",
               saved_ckpt ? ", the last good checkpoint is " + ckpt_dir : std::string(", no checkpoint written"));
    checkpoint_save(dir, cfg, *model, data->tokenizer_spec(), &st);
    saved_ckpt = true;
  };
  const bool have_val = data->has_validation();
  if (!have_val && main_rank)
    std::fprintf(stderr, "oryx: dataset %s has no val split: no validation during training\n", o.data.c_str());
  auto evaluate = [&] {
    if (!have_val || !main_rank) return;
    nlohmann::json rec = {{"kind", "eval"}, {"step", sum.steps}, {"tokens", sum.tokens}};
    for (size_t i = 0; i < eval_schedules.size(); ++i)
      rec["eval"][o.eval_schedules[i]] = data->validate(model, eval_schedules[i]);
    metrics->write(rec);
    sum.last_eval = rec;
  };

  StopSignals signals;
  ProgressOptions bar_opts;
  bar_opts.start = sum.tokens;
  std::optional<ProgressBar> bar;
  if (main_rank) bar.emplace("train " + cfg.name, o.tokens, "tok", bar_opts);
  int64_t steps_this_run = 0;
  auto t_log = std::chrono::steady_clock::now();
  int64_t tokens_at_log = sum.tokens;
  while (sum.tokens < o.tokens) {
    // The last step takes only the sequences left in the budget.
    int64_t seqs = std::min(seqs_per_step, (o.tokens - sum.tokens) / o.seq_len);
    // The step's loss is summed on the device (in fp64, as a host sum would) and read once
    // per step: reading it per micro-batch would stall the GPU grad_accum times a step.
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    double attn_sum = 0;
    torch::Tensor graph_norm;  // the norm the step graph computed (it clips too)
    for (int64_t done = 0; done < seqs; done += micro_seqs) {
      // This rank's rows of the (global) micro-batch, which the last step may leave short.
      const int64_t micro_rows = std::min(micro_seqs, seqs - done);
      const int64_t first = std::min(world.rank() * o.batch_size, micro_rows);
      const int64_t rows = std::min(o.batch_size, micro_rows - first);
      Batch b = data->next();
      // A rank left without rows still runs one at weight 0: every rank takes part in the
      // gradient all-reduce.
      const int64_t fed = std::max<int64_t>(rows, 1);
      torch::Tensor modes;
      if (cfg.kind == ModelKind::Oryx) {
        modes = sampler.sample_rows(micro_rows, o.seq_len, first, rows);
        attn_sum += modes.to(torch::kFloat64).sum().item<double>();
        if (rows == 0) modes = torch::zeros({1, o.seq_len}, torch::kBool);
      } else if (cfg.kind == ModelKind::Transformer) {
        attn_sum += static_cast<double>(rows * o.seq_len);
      }
      if (step_graph) {  // one process, one micro-batch: its share is 1
        auto r = step_graph->step(b.inputs.narrow(0, 0, fed), b.targets.narrow(0, 0, fed), modes);
        loss_sum += r.loss.to(torch::kFloat64) * static_cast<double>(micro_rows);
        graph_norm = r.grad_norm;
        continue;
      }
      auto inputs = b.inputs.narrow(0, 0, fed).to(device);
      auto targets = b.targets.narrow(0, 0, fed).to(device);
      torch::Tensor loss;
      {
        AutocastScope scope(autocast);
        loss = model_loss(model, inputs, modes, targets);  // modes stay on the CPU: see TokenModes
      }
      // Weight each micro-batch by its share of the step's sequences: the step's loss is the
      // mean over all its tokens. With several ranks each loss is the mean over the rank's
      // targets; weighted by the rank's share of the micro-batch's targets (and by W, as the
      // all-reduce averages), the ranks' gradients sum to the single-process one.
      const double share = static_cast<double>(micro_rows) / seqs;
      torch::Tensor weighted;
      if (!world.distributed()) {
        weighted = loss * share;
        loss_sum += loss.detach().to(torch::kFloat64) * static_cast<double>(micro_rows);
      } else {
        const double mine = rows ? (b.targets.narrow(0, 0, rows) != -100).sum().item<double>() : 0.0;
        auto targets_all = torch::full({}, mine, loss_sum.options());
        world.all_reduce_sum(targets_all);
        auto part = mine / targets_all.clamp_min(1.0);  // this rank's share of the targets
        weighted = loss * (part * (share * static_cast<double>(W))).to(loss.scalar_type());
        loss_sum += loss.detach().to(torch::kFloat64) * part * static_cast<double>(micro_rows);
        if (done + micro_seqs >= seqs) grad_sync.prepare(weighted);  // earlier micro-batches accumulate locally
      }
      weighted.backward();
    }
    // The loss and the gradient norm are read together, the step's one host synchronisation,
    // before the update: a diverged step stops the run before it reaches weights or checkpoints.
    // Ranks sum their losses, attention counts and stop requests (a signal to any rank stops
    // all of them at the same step); the gradients are already the same on every rank.
    auto shared = torch::stack({loss_sum, torch::full({}, attn_sum, loss_sum.options()),
                                torch::full({}, g_signal ? 1.0 : 0.0, loss_sum.options())});
    world.all_reduce_sum(shared);
    auto norm = graph_norm.defined() ? graph_norm : grad_norm_clip_(model->parameters(), o.grad_clip);
    auto stats = torch::cat({shared, norm.to(torch::kFloat64).reshape(1)})
                     .to(torch::kCPU);
    const double step_loss = stats[0].item<double>() / seqs, grad_norm = stats[3].item<double>();
    attn_sum = stats[1].item<double>();
    const bool stop_signal = stats[2].item<double>() > 0;
    ORYX_CHECK(std::isfinite(step_loss) && std::isfinite(grad_norm), "training diverged at step ", sum.steps + 1,
               ": loss ", step_loss, ", gradient norm ", grad_norm, " (try a lower --lr); stopped without saving it",
               saved_ckpt ? ", the last good checkpoint is " + ckpt_dir : std::string(", no checkpoint written"));
    double rate = lr.at(sum.steps);
    optimizer.step(rate);
    if (!step_graph || !step_graph->owns_grads()) optimizer.zero_grad();
    ++sum.steps;
    ++steps_this_run;
    sum.tokens += seqs * o.seq_len;
    sum.last_loss = step_loss;

    bool last = sum.tokens >= o.tokens;
    if (main_rank && (sum.steps % o.log_every == 0 || last || sum.steps == 1)) {
      auto now = std::chrono::steady_clock::now();
      double dt = std::chrono::duration<double>(now - t_log).count();
      metrics->write({{"kind", "train"},
                      {"step", sum.steps},
                      {"tokens", sum.tokens},
                      {"lr", rate},
                      {"loss", sum.last_loss},
                      {"grad_norm", grad_norm},
                      {"tokens_per_s", dt > 0 ? (sum.tokens - tokens_at_log) / dt : 0.0},
                      {"attention_fraction", attn_sum / (seqs * o.seq_len)}});
      t_log = now;
      tokens_at_log = sum.tokens;
    }
    if (main_rank) {
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f", sum.last_loss);
      bar->update(sum.tokens, extra);
    }
    if (sum.steps % eval_every == 0 || last) evaluate();
    bool stop_slice = o.max_steps > 0 && steps_this_run >= o.max_steps && !last;
    if (main_rank && (last || stop_signal || stop_slice || (o.save_every > 0 && sum.steps % o.save_every == 0)))
      save(ckpt_dir);
    if (stop_signal || stop_slice) {
      sum.signal = g_signal ? g_signal.load() : SIGTERM;  // another rank's signal
      sum.interrupted = stop_signal;
      break;
    }
  }
  if (main_rank) bar->finish();
  sum.finished = sum.tokens >= o.tokens;
  if (sum.finished && main_rank) {
    save((fs::path(o.out) / "final").string());
    // The run has succeeded by now: a missing gnuplot costs the picture, not the exit status.
    try {
      if (o.plot) plot_metrics({(fs::path(o.out) / "metrics.jsonl").string()}, (fs::path(o.out) / "loss.png").string());
    } catch (const Error& e) {
      std::fprintf(stderr, "oryx: warning: no loss plot: %s\n", e.what());
    }
  }
  // Every rank ends after rank 0 has written its checkpoints.
  world.barrier();
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return sum;
}

TrainSummary train_run(const TrainOptions& options) {
  const WorldEnv env = world_env_read();
  if (env.size <= 1) return train_in_world(options, env);
  try {
    TrainSummary s = train_in_world(options, env);
    s.reports = env.rank == 0;
    return s;
  } catch (const Error& e) {
    if (env.rank == 0) throw;
    ORYX_FAIL("rank ", env.rank, ": ", e.what());
  } catch (const std::exception& e) {
    // A collective fails when another rank has stopped: say so, on one line.
    ORYX_FAIL("rank ", env.rank, ": a collective failed (has another process stopped?): ", world_failure_line(e));
  }
}

}  // namespace oryx
