"""Build the tiny random-weight Llama that docs/streaming.md serves with the real vLLM CPU build.

    /work/vllm-env/bin/python bench/vllm_tiny_llama.py OUT_DIR

A Llama of 2 layers, hidden size 256, 4 heads (3.4 M parameters), random weights (seed 0), and a
byte-level BPE tokenizer (vocabulary 4096) trained here on the standard library's sources, so
nothing is downloaded. float32, with a chat template. Random weights seldom sample EOS, but may:
send ignore_eos (llm.ignoreEos, vllm bench serve --ignore-eos) for fixed output lengths.
Written by the lead for issue 25 (/work/vllm/make_tiny_llama.py); kept here to repeat the check.
"""
import pathlib
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

# A corpus from text already on this machine: the standard library's own sources.
sources = sorted(pathlib.Path(torch.__file__).parents[1].glob("*.py"))[:400]
corpus = [p.read_text(errors="ignore") for p in sources]
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=["<unk>", "<s>", "</s>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator(corpus, trainer)
fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                               unk_token="<unk>", model_max_length=2048)
fast.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                      "{% if add_generation_prompt %}<s>assistant: {% endif %}")
fast.save_pretrained(out)

torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(fast), hidden_size=256, intermediate_size=512,
                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                     max_position_embeddings=2048, bos_token_id=fast.bos_token_id,
                     eos_token_id=fast.eos_token_id, torch_dtype="float32")
model = LlamaForCausalLM(config)
model.save_pretrained(out)
print(f"tiny llama: {sum(p.numel() for p in model.parameters())/1e6:.1f} M parameters, "
      f"vocab {len(fast)}, in {out}")
