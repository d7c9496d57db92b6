"""The summary taken from the abstract (output.summary = "abstract"): which sentence, how it is
rewritten and cut, and how a version using it renders requests and reads answers."""

import pytest

from summariser.evaluation.faithfulness import source_text, unsupported
from summariser.prompting.answers import validate_answer
from summariser.prompting.extract import (
    contribution_sentence, cut_words, drop_subject, extract_summary, prompt_summary, sentences, with_subject,
)
from summariser.prompting.grammar import gbnf_grammar
from summariser.prompting.render import Renderer
from summariser.prompting.store import PromptError, load_prompt, packaged_dir
from summariser.records import Paper, read_dump

from .conftest import SEED_DUMP, shipped_source

ABSTRACT = (
    "Large language models are widely used. However, they hallucinate facts in long answers. "
    "In this paper, we propose FactCheck, a decoding method that verifies each claim against retrieved passages. "
    "Experiments on three benchmarks show gains of 12%."
)


def test_the_sentence_with_the_contribution_cue_wins_over_background():
    assert contribution_sentence("FactCheck: decoding that verifies claims", ABSTRACT).startswith("In this paper, we propose FactCheck")


def test_without_a_cue_the_sentence_sharing_most_title_words_wins_and_the_first_of_equals():
    abstract = "Graphs are everywhere. Sparse graph attention scales to millions of nodes. It is fast."
    assert contribution_sentence("Sparse graph attention", abstract) == "Sparse graph attention scales to millions of nodes."
    assert contribution_sentence("Unrelated words", "First one. Second one.") == "First one."


def test_a_paper_without_an_abstract_is_summarised_by_its_title():
    assert contribution_sentence("  A title\nwith a break ", "") == "A title with a break"


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("In this paper, we propose a new X.", "Proposes a new X."),
        ("We also introduce Z.", "Introduces Z."),
        ("Here, we study why Y.", "Studies why Y."),
        ("This work analyzes W.", "Analyzes W."),
        ("We discuss C.", "Discusses C."),
        ("We developed B.", "Developed B."),
        ("We studied F.", "Studied F."),
        ("We are the first to do A.", "We are the first to do A."),
        ("We need C.", "We need C."),
        ("We found that A.", "We found that A."),
        ("We furthermore collect a corpus.", "Collects a corpus."),
        ("We critically examine Y.", "Critically examines Y."),
        ("We fine-tune Z and find that it works.", "Fine-tunes Z and finds that it works."),
        ("We argue that audits miss bias, and we propose an agenda.", "Argues that audits miss bias, and proposes an agenda."),
        ("We train models and test sets of tasks.", "Trains models and test sets of tasks."),
        ("This paper is about D.", "This paper is about D."),
        ("First, we contribute a dataset.", "Contributes a dataset."),
        ("To overcome this issue, we design a measure.", "Designs a measure."),
        ("Thus, the model fails.", "Thus, the model fails."),
        ("To be fair, results vary.", "To be fair, results vary."),
        ("Results, we find, vary.", "Results, we find, vary."),
    ],
)
def test_the_subject_is_dropped_only_where_the_verb_can_stand_alone(sentence, expected):
    assert drop_subject(sentence) == expected


def test_a_long_sentence_is_cut_at_a_clause_boundary_near_the_limit_else_at_the_limit():
    words = [f"w{i}" for i in range(40)]
    late_comma = " ".join(words[:8]) + ", " + " ".join(words[8:])
    assert cut_words(late_comma, 10) == " ".join(words[:8])
    early_comma = " ".join(words[:2]) + ", " + " ".join(words[2:])
    assert cut_words(early_comma, 10) == "w0 w1, " + " ".join(words[2:10])
    assert cut_words("short one", 10) == "short one"


def test_the_title_leads_a_sentence_that_does_not_name_what_the_title_names():
    assert with_subject("PLeaS: Merging Models with Permutations", "Merges models of any width.", 35) == (
        "PLeaS: Merging Models with Permutations: Merges models of any width."
    )
    # A title that ends its own sentence needs no colon; one named by the sentence is left out.
    assert with_subject("Do Batches Matter?", "Trains 400 classifiers.", 35) == "Do Batches Matter? Trains 400 classifiers."
    assert with_subject("Graph Nets:", "Trains 400 classifiers.", 35) == "Graph Nets: Trains 400 classifiers."
    assert with_subject("Sparse Adapters for Transfer", "Proposes sparse adapters.", 35) == "Proposes sparse adapters."


def test_the_title_leaves_room_for_the_sentence_or_is_left_out():
    sentence = " ".join(f"s{i}" for i in range(30))
    title = " ".join(f"T{i}" for i in range(20))
    assert with_subject(title, sentence, 35) == f"{title}: " + " ".join(f"s{i}" for i in range(15))
    long_title = " ".join(f"T{i}" for i in range(30))  # would leave 5 words of the sentence
    assert with_subject(long_title, sentence, 35) == " ".join(f"s{i}" for i in range(30))


def test_sentences_about_code_or_hopes_are_not_the_contribution():
    abstract = "Our code and pre-trained models are available at https://x.org. We hope this work helps. Models forget rare facts."
    assert contribution_sentence("Forgetting of rare facts", abstract) == "Models forget rare facts."


def test_sentences_split_before_capitals_and_quotes_but_not_after_abbreviations():
    assert sentences('We use e.g. BERT here. "Quoted" next. Élan last.') == ["We use e.g. BERT here.", '"Quoted" next.', "Élan last."]


def test_every_seed_summary_fits_the_limit_and_is_faithful_to_its_paper():
    # Copied from the abstract, but rewritten: a verb capitalised after the title, or a title
    # joined without a colon, would read as a name the paper lacks.
    for paper in read_dump(str(SEED_DUMP)).papers:
        summary = extract_summary(paper.title, paper.abstract, 35)
        assert 0 < len(summary.split()) <= 35 and "\n" not in summary
        assert unsupported(summary, source_text(paper.title, paper.abstract)) == [], (paper.id, summary)


def _version(tmp_path, extra_output: str = 'summary = "abstract"\n', api_change: bool = False):
    source = shipped_source("fewshot-v9")
    if api_change:
        source = source.replace('api = "completion"', 'api = "chat"')
    source = source.replace('summary = "abstract"\n', extra_output)
    source = source.replace('pool = "pools/', f'pool = "{packaged_dir()}/pools/')
    path = tmp_path / "mine.toml"
    path.write_text(source.replace('version = "fewshot-v9"', 'version = "mine"'))
    return load_prompt(str(path))


def test_the_prompt_ends_with_the_extracted_sentence_and_the_answer_is_only_labels(tmp_path):
    prompt = _version(tmp_path)
    paper = Paper(id="p1", title="Verified generation", abstract=ABSTRACT)
    renderer = Renderer(prompt, "m")
    sentence = "Proposes FactCheck, a decoding method that verifies each claim against retrieved passages."
    expected = f"Verified generation: {sentence}"  # the sentence does not name the title's subject
    assert renderer.summary(paper) == expected
    # The model reads the sentence alone: the title is in the prompt already.
    assert renderer.completion_prompt(paper).endswith(f"Abstract: {' '.join(ABSTRACT.split()[:100])}\nSummary: {sentence}\n")
    answer = validate_answer("Topic: language\nContribution: method", prompt, renderer.summary(paper))
    assert answer.summary == expected and answer.labels == {"topic": "language", "contribution": "method"}
    assert gbnf_grammar(prompt).startswith('root ::= "Topic: " field-topic "\\nContribution: "')


def test_a_version_whose_model_writes_the_summary_is_unchanged(tmp_path):
    prompt = _version(tmp_path, extra_output="")
    paper = Paper(id="p1", title="FactCheck", abstract=ABSTRACT)
    assert Renderer(prompt, "m").summary(paper) is None
    assert Renderer(prompt, "m").completion_prompt(paper).endswith("Summary:")
    assert "summary ::= word" in gbnf_grammar(prompt)


def test_a_chat_version_cannot_take_its_summary_from_the_abstract(tmp_path):
    with pytest.raises(PromptError, match="output.summary = 'abstract' needs api = 'completion'"):
        _version(tmp_path, api_change=True)


def test_text_before_the_label_lines_is_ignored_when_the_prompt_gave_the_summary(tmp_path):
    prompt = _version(tmp_path)
    answer = validate_answer("A summary the model\nwrote anyway\nTopic: language\nContribution: method", prompt, "Given.")
    assert answer.summary == "Given." and answer.labels == {"topic": "language", "contribution": "method"}


def test_the_extraction_code_is_part_of_the_version(tmp_path, monkeypatch):
    from summariser.base import versions

    before, other = _version(tmp_path).sha256, _version(tmp_path, extra_output="").sha256
    monkeypatch.setattr(versions, "EXTRACT_VERSION", "contribution-sentence-next")
    assert _version(tmp_path).sha256 != before
    assert _version(tmp_path, extra_output="").sha256 == other  # a version whose model writes the summary: unaffected


def test_the_default_shows_its_worked_examples_with_the_summaries_it_writes():
    # Examples summarised otherwise than the paper to label made the model's labels worse.
    prompt = load_prompt("fewshot-v9")
    assert prompt.output.summary == "abstract"
    for ex in prompt.examples:
        assert ex.summary == prompt_summary(ex.title, ex.abstract, prompt.output.summary_max_words)


def _v4_from_abstract(tmp_path, example_summaries: bool = False):
    # fewshot-v4 shows two retrieved pool papers (without their summaries) and needs no embedder.
    source = shipped_source("fewshot-v4").replace('format = "lines"\n', 'format = "lines"\nsummary = "abstract"\n')
    source = source.replace('pool = "pools/', f'pool = "{packaged_dir()}/pools/').replace('version = "fewshot-v4"', 'version = "mine"')
    if example_summaries:
        source = source.replace("example_summaries = false", "example_summaries = true")
    (tmp_path / "mine.toml").write_text(source)
    return load_prompt(str(tmp_path / "mine.toml"))


def test_an_answer_collected_from_a_batch_gets_the_summary_from_the_abstract(tmp_path):
    from summariser.base.types import Completion, Usage
    from summariser.flow.calls import VersionRun

    from .conftest import fake_client

    prompt = _v4_from_abstract(tmp_path)
    paper = read_dump(str(SEED_DUMP)).papers[3]
    run = VersionRun.make(prompt, fake_client("http://127.0.0.1:9/v1"), cache=None)
    row = run.store_completion(paper, "key", Completion(text="Topic: language\nContribution: method", usage=Usage()))
    assert row.summary == extract_summary(paper.title, paper.abstract, 35) and row.error is None


def test_retrieved_examples_of_such_a_version_are_shown_without_their_summaries(tmp_path):
    with pytest.raises(PromptError, match="set retrieval.example_summaries = false"):
        _v4_from_abstract(tmp_path, example_summaries=True)
