// A prepared dataset read back as text: the documents of a split (the token runs between
// end-of-document ids) decoded with the dataset's own tokenizer. For tasks that need text
// rather than tokens, such as the NIAH haystack, when they are given a dataset folder.
#pragma once
#include <functional>
#include <string>

#include "oryx/data/shard.h"

namespace oryx {

// True when `path` is a folder holding a meta.json (a dataset written by `oryx prepare`).
bool is_dataset_folder(const std::string& path);

// The split text tasks read: "val" when the dataset has one, else "train".
std::string dataset_text_split(const Dataset& ds);

// Calls emit(text) for each document of `split` in order, until emit returns false or the
// split ends; a trailing run without an end-of-document id is a document too.
void dataset_for_each_document(const Dataset& ds, const std::string& split,
                               const std::function<bool(const std::string&)>& emit);

}  // namespace oryx
