#include "common/flags.h"

namespace propmon {

void FlagSet::String(const std::string& name, std::string default_value,
                     std::string help) {
  values_[name] = std::move(default_value);
  help_[name] = std::move(help);
}

void FlagSet::Bool(const std::string& name, std::string help) {
  bools_.insert(name);
  values_[name] = "false";
  help_[name] = std::move(help);
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      saw_dashdash_ = true;
      dashdash_index_ = positional_.size();
      positional_.insert(positional_.end(), args.begin() + i + 1, args.end());
      return Status::Ok();
    }
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
      if (a.size() >= 2 && a[0] == '-' && a != "-") {
        return InvalidArgument("unknown flag " + a + " (flags start with --)");
      }
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (!values_.count(name)) return InvalidArgument("unknown flag --" + name);
    if (bools_.count(name)) {
      if (value && *value != "true" && *value != "false") {
        return InvalidArgument("flag --" + name + " takes true or false");
      }
      if (value && *value == "false") {
        set_.erase(name);
      } else {
        set_.insert(name);
      }
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return InvalidArgument("flag --" + name + " needs a value");
      }
      value = args[++i];
    }
    values_[name] = *value;
    set_.insert(name);
  }
  return Status::Ok();
}

const std::string& FlagSet::Get(const std::string& name) const {
  static const std::string empty;
  auto it = values_.find(name);
  return it == values_.end() ? empty : it->second;
}

std::string FlagSet::Usage() const {
  std::string out;
  for (const auto& [name, help] : help_) {
    out += "  --" + name;
    if (!bools_.count(name)) {
      out += "=VALUE";
      const std::string& d = values_.at(name);
      if (!d.empty()) out += " (default \"" + d + "\")";
    }
    out += "\n      " + help + "\n";
  }
  return out;
}

}  // namespace propmon
