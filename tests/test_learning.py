"""A version that learns from the user's labels: drafts (`prompts new`, `release`), settings chosen
on the labelled file, answers that stay cached as it grows, and the eval's cross-validation."""

import json

from summariser.prompting.drafts import DRAFT_QUESTION
from summariser.prompting.retrieval import QUESTION_FRAME
from summariser.prompting.store import load_prompt
from summariser.records import read_dump

from .conftest import SEED_DUMP, cli
from .fake_server import FakeServer, Reply
from .test_endpoints import TOPICS, unsure_completion

GOLD = {json.loads(line)["title"]: json.loads(line)["labels"] for line in open(SEED_DUMP.parent.parent / "evals" / "gold.jsonl")}
PAPERS = [p for p in read_dump(str(SEED_DUMP)).papers if GOLD[p.title]["topic"] in ("language", "society", "ml-methods")]


def labelled_row(paper, annotator="a1", pid=None):
    return {"id": pid or paper.id, "title": paper.title, "abstract": paper.abstract, "annotator": annotator, "labels": GOLD[paper.title]}


class Endpoint:
    """Completions whose topic the model spreads evenly over every value (the classifier must
    decide), and embeddings that say each paper's topic, as a good embedding model's would."""

    def __init__(self):
        self.completions = 0

    def __call__(self, body):
        if "input" not in body:
            self.completions += 1
            return Reply(body=unsure_completion())
        titles = [text.removeprefix(QUESTION_FRAME).split(". ")[0] for text in body["input"]]  # a draft's text asks a question
        vectors = [[float(GOLD[title]["topic"] == t) + 0.05 * (i % 5) for t in TOPICS] for i, title in enumerate(titles)]
        return Reply(body={"object": "list", "data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)], "model": "e"})


def draft(tmp_path):
    made = cli("prompts", "new", "mine", "--from", "fewshot-v8", "--no-edit", "--prompts-dir", str(tmp_path / "p"))
    assert made.exit_code == 0, made.output
    return tmp_path / "p" / "mine.toml", tmp_path / "p" / "pools" / "mine.jsonl"


def test_a_draft_learns_from_its_labelled_file_and_keeps_its_answers_as_the_file_grows(tmp_path):
    _, labelled = draft(tmp_path)
    new = PAPERS[:6]
    dump = tmp_path / "new.jsonl"
    dump.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in new))
    endpoint = Endpoint()
    args = ["run", str(dump), "--prompt", "mine", "--prompts-dir", str(tmp_path / "p"), "--model", "fake",
            "--embeddings-model", "e", "--cache-dir", str(tmp_path / "c"), "-o", str(tmp_path / "rows.jsonl")]
    with FakeServer(responder=endpoint) as srv:
        bare = cli(*args, "--base-url", srv.url)
        assert bare.exit_code == 0, bare.stderr
        rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
        # No labels yet: the model alone decides (its first choice, health), and every row says draft.
        assert {r["labels"]["topic"] for r in rows} == {"health"} and all(r["draft"] for r in rows)
        assert endpoint.completions == 6
        labelled.write_text("".join(json.dumps(labelled_row(p)) + "\n" for p in PAPERS[6:46]))
        learnt = cli(*args, "--base-url", srv.url)
        assert learnt.exit_code == 0, learnt.stderr
        assert "from the 40 labelled papers" in learnt.stderr and "cross-validated kappa" in learnt.stderr
        # The model read the 40 labelled papers; the 6 papers' answers were still cached.
        assert endpoint.completions == 6 + 40
        rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
        assert [r["labels"]["topic"] for r in rows] == [GOLD[p.title]["topic"] for p in new]
        again = cli(*args, "--base-url", srv.url)
        assert again.exit_code == 0 and "6 ok (6 cached)" in again.stderr
        assert endpoint.completions == 46 and "labelled papers (the model reads them first" not in again.stderr  # settings kept
        # Without a cache the model's answers are still there to choose with: the same choice.
        uncached = cli(*[a for a in args if a not in ("--cache-dir", str(tmp_path / "c"))], "--no-cache", "--base-url", srv.url)
    def choices(stderr):
        return [line[line.index("topic: "):] for line in stderr.splitlines() if "  topic: " in line]

    assert choices(learnt.stderr) and choices(learnt.stderr) == choices(uncached.stderr)
    assert "the classifier alone" not in choices(uncached.stderr)[0]  # the model's answers were used to choose


def test_the_labelled_file_is_in_the_versions_hash_but_not_in_its_requests(tmp_path):
    path, labelled = draft(tmp_path)
    labelled.write_text("".join(json.dumps(labelled_row(p)) + "\n" for p in PAPERS[:10]))
    before = load_prompt(str(path))
    with labelled.open("a") as f:
        f.write(json.dumps(labelled_row(PAPERS[10])) + "\n")
    after = load_prompt(str(path))
    assert after.sha256 != before.sha256 and after.request_sha256 == before.request_sha256
    assert len(after.pool) == 11 and after.draft


def test_a_value_outside_the_taxonomy_in_the_labelled_file_is_refused_with_its_line(tmp_path):
    _, labelled = draft(tmp_path)
    rows = [labelled_row(p) for p in PAPERS[:3]]
    rows[2]["labels"] = {"topic": "robotics", "contribution": "method"}
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    checked = cli("prompts", "check", "mine", "--prompts-dir", str(tmp_path / "p"))
    assert checked.exit_code == 2 and "mine.jsonl:3: topic='robotics' is not one of" in checked.stderr


def test_release_freezes_a_draft_into_the_lock(tmp_path):
    path, labelled = draft(tmp_path)
    labelled.write_text("".join(json.dumps(labelled_row(p)) + "\n" for p in PAPERS[:10]))
    released = cli("prompts", "release", "mine", "--prompts-dir", str(tmp_path / "p"))
    assert released.exit_code == 0, released.output
    prompt = load_prompt(str(path))
    lock = (tmp_path / "p" / "versions.lock").read_text().split()
    assert lock == ["mine", prompt.sha256] and not prompt.draft and prompt.meta.status == "experimental"
    listed = cli("prompts", "list", "--prompts-dir", str(tmp_path / "p"))
    assert next(line for line in listed.output.splitlines() if line.startswith("mine")).split("\t")[3] == "released"
    dump = tmp_path / "d.jsonl"
    dump.write_text(json.dumps({"title": PAPERS[20].title, "abstract": PAPERS[20].abstract}) + "\n")
    refused = cli("label", str(dump), "--prompt", "mine", "--prompts-dir", str(tmp_path / "p"), "--no-browser", "--port", "0")
    assert refused.exit_code == 2 and "released version" in refused.stderr  # its labelled file stays as released
    assert cli("prompts", "release", "mine", "--prompts-dir", str(tmp_path / "p")).exit_code == 2  # once only
    with labelled.open("a") as f:  # a label added after release is a change the list shows
        f.write(json.dumps(labelled_row(PAPERS[10])) + "\n")
    assert load_prompt(str(path)).draft
    listed = cli("prompts", "list", "--prompts-dir", str(tmp_path / "p"))
    assert next(line for line in listed.output.splitlines() if line.startswith("mine")).split("\t")[3] == "CHANGED after release"


def test_eval_of_a_learning_version_cross_validates_on_its_labelled_file(tmp_path):
    _, labelled = draft(tmp_path)
    papers = PAPERS[:60]
    # Ids as a dump of the user's own gives them (not derived from the title), as the label page writes them.
    rows = [labelled_row(p, pid=f"arxiv-{i}") for i, p in enumerate(papers)] + [labelled_row(p, "a2", f"arxiv-{i}") for i, p in enumerate(papers[:20])]
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    endpoint = Endpoint()
    with FakeServer(responder=endpoint) as srv:
        result = cli("eval", "--prompt", "mine", "--prompts-dir", str(tmp_path / "p"), "--base-url", srv.url, "--model", "fake",
                     "--embeddings-model", "e", "--cache-dir", str(tmp_path / "c"), "--json", str(tmp_path / "m.json"))
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["gold"].endswith("mine.jsonl") and report["n_papers"] == 60  # no dump needed: the file has the abstracts
    assert report["human"]["topic"]["n"] == 20  # the second annotator's agreement, the ceiling
    version = report["versions"][0]
    assert version["learning"]["held_out"] == 60
    assert [p["labelled"] for p in version["learning"]["curves"]["topic"]] == [10, 20, 40]
    # The embeddings tell the topics apart: held out, the labels still follow them.
    assert version["fields"]["topic"]["kappa"] > 0.9
    assert "agreement after n labels" in result.output


def test_a_draft_asks_its_embedding_question_which_needs_layer_embeddings(tmp_path):
    path, _ = draft(tmp_path)
    prompt = load_prompt(str(path))
    assert prompt.retrieval.embedding_question == DRAFT_QUESTION and prompt.retrieval.embedding_layers == 13
    # The question is part of the version: another question is another hash.
    other, renamed = path.with_name("other.toml"), path.read_text().replace('"mine"', '"other"', 1)
    other.write_text(renamed)
    same_question = load_prompt(str(other)).sha256
    other.write_text(renamed.replace(DRAFT_QUESTION, "The kind of data this paper is about is"))
    assert load_prompt(str(other)).sha256 != same_question
    # Without layer embeddings there is no last token's state to read.
    other.write_text(path.read_text().replace("embedding_layers = 13\n", "").replace('"mine"', '"other"', 1))
    refused = cli("prompts", "check", "other", "--prompts-dir", str(tmp_path / "p"))
    assert refused.exit_code == 2 and "embedding_question needs embedding_layers" in refused.stderr
