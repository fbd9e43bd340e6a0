// oryx export: a checkpoint as a Hugging Face model folder (export/hf_export.h).
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/export/hf_export.h"

namespace oryx::cli {

void register_export(CLI::App& app) {
  struct Flags {
    std::string checkpoint, hf;
    bool overwrite = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("export", "Write a checkpoint as a Hugging Face model folder");
  cmd->footer(
      "The folder loads with transformers (trust_remote_code: the model code is inside it):\n"
      "  AutoModelForCausalLM.from_pretrained(OUT, trust_remote_code=True),\n"
      "  AutoTokenizer.from_pretrained(OUT, trust_remote_code=True)\n"
      "Example:\n"
      "  oryx export --checkpoint runs/out/demo/run/final --hf runs/out/demo/hf");
  cmd->add_option("--checkpoint", f->checkpoint, "Checkpoint folder (config.json + model.safetensors)")->required();
  cmd->add_option("--hf", f->hf, "Output folder")->required();
  cmd->add_flag("--overwrite", f->overwrite, "Replace a non-empty output folder");
  cmd->callback([f] {
    hf_export(f->checkpoint, f->hf, f->overwrite);
    std::cout << "exported " << f->checkpoint << " to " << f->hf << "\n";
  });
}

}  // namespace oryx::cli
