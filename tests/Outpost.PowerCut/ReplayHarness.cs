using System.Diagnostics;
using System.Globalization;

namespace Outpost.PowerCut;

/// <param name="Cuts">Random crash states to check (on top of the exhaustive ones).</param>
/// <param name="Exhaustive">
/// Also check every state the write-level model allows: each subset of the writes between two flushes (on top of
/// everything before the first of them), which covers every cut point with its unflushed writes all dropped, all
/// kept and anything between. A window of more than <see cref="ReplayHarness.MaxEnumeratedWindow"/> writes gets every
/// cut point with all dropped and all kept instead.
/// </param>
/// <param name="Torn">Split the unflushed writes of the random states into 512-byte sectors before picking the subset (a write torn by the cut).</param>
/// <param name="Variant">The scenario to record; <see cref="ScenarioVariant.MarkBeforeRootfs"/> is a deliberately unsafe order that must fail.</param>
public sealed record ReplayOptions(int Cuts = 300, int Seed = 1, bool Exhaustive = true, bool Torn = false, int EspMiB = DiskScenario.DefaultEspMiB,
    int Parallelism = 0, ScenarioVariant Variant = ScenarioVariant.Real);

/// <summary>The update's writes to the disk, in order, and the disk they were made to.</summary>
public sealed record ScenarioRecording(byte[] BaseImage, IReadOnlyList<DiskOp> Ops)
{
    public int Writes => Ops.Count(o => !o.IsBarrier);
    public int Barriers => Ops.Count(o => o.IsBarrier);

    /// <summary>Index just after the last barrier among the first <paramref name="cut"/> operations (0 when there is none).</summary>
    public int DurableEnd(int cut)
    {
        for (int i = cut - 1; i >= 0; i--)
            if (Ops[i].IsBarrier) return i + 1;
        return 0;
    }

    /// <summary>The phase a cut after <paramref name="cut"/> issued operations lands in.</summary>
    public string PhaseAt(int cut) => cut == 0 ? Phases.Start : cut == Ops.Count ? Phases.Done : Ops[cut - 1].Phase;

    /// <summary>The flush windows: [Start, End) ranges of operations with no barrier inside that hold at least one write.</summary>
    public IEnumerable<(int Start, int End)> Windows()
    {
        int start = 0;
        for (int i = 0; i <= Ops.Count; i++)
        {
            if (i < Ops.Count && !Ops[i].IsBarrier) continue;
            if (i > start) yield return (start, i);
            start = i + 1;
        }
    }
}

/// <summary>
/// The power-loss half of the harness, as CrashMonkey and ALICE do it: the update runs once over a
/// <see cref="RecordingStream"/>, then each crash state is rebuilt from the original image: every write up to the last
/// flush that completed before the cut, plus any subset of the writes issued after that flush (the page cache and
/// the disk's own cache may persist any of them), applied in issue order, and judged by <see cref="CrashChecker"/>.
/// </summary>
public static class ReplayHarness
{
    public const int MaxEnumeratedWindow = 12;

    public static async Task<ScenarioRecording> RecordAsync(int espMiB = DiskScenario.DefaultEspMiB, ScenarioVariant variant = ScenarioVariant.Real)
    {
        var original = DiskScenario.BuildDisk(espMiB);
        using var recorder = new RecordingStream(new MemoryStream(original.ToArray(), writable: true));
        await DiskScenario.RunAsync(recorder, phase => recorder.Phase = phase, variant).ConfigureAwait(false);
        return new ScenarioRecording(original, recorder.Ops.ToList());
    }

    public static async Task<PowerCutReport> RunAsync(ReplayOptions options, TextWriter? log = null)
    {
        var clock = Stopwatch.StartNew();
        var recording = await RecordAsync(options.EspMiB, options.Variant).ConfigureAwait(false);
        var report = new PowerCutReport((options.Torn ? "replay (torn sectors)" : "replay") + (options.Variant == ScenarioVariant.Real ? "" : $" [{options.Variant}]"));
        int n = recording.Ops.Count;
        var perPhase = string.Join(", ", recording.Ops.GroupBy(o => o.Phase).Select(g => $"{g.Key} {g.Count(o => !o.IsBarrier)}w/{g.Count(o => o.IsBarrier)}f"));
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"the update issued {recording.Writes} writes ({recording.Ops.Where(o => !o.IsBarrier).Sum(o => (long)o.Data!.Length)} bytes) and {recording.Barriers} flushes; per phase (writes/flushes): {perPhase}"));

        var jobs = new List<Job>();
        if (options.Exhaustive)
        {
            // Every durable prefix on its own (each cut point with all its unflushed writes dropped).
            foreach (var durable in Enumerable.Range(0, n + 1).Select(recording.DurableEnd).Distinct())
                jobs.Add(new Job(durable, Mode.Explicit, 0, null));
            int windows = 0, largest = 0;
            foreach (var (start, end) in recording.Windows())
            {
                windows++;
                var writes = Enumerable.Range(start, end - start).ToArray();
                largest = Math.Max(largest, writes.Length);
                if (writes.Length <= MaxEnumeratedWindow)
                {
                    for (ulong mask = 1; mask < 1UL << writes.Length; mask++)
                        jobs.Add(new Job(end, Mode.Explicit, 0, writes.Where((_, bit) => (mask >> bit & 1) != 0).ToHashSet()));
                }
                else
                {
                    for (int cut = start + 1; cut <= end; cut++)
                        jobs.Add(new Job(cut, Mode.Explicit, 0, Enumerable.Range(start, cut - start).ToHashSet()));
                }
            }
            report.Notes.Add($"exhaustive: {jobs.Count} states: every durable prefix, and every subset of the writes of each of the {windows} flush windows (largest: {largest} writes{(largest > MaxEnumeratedWindow ? $"; windows over {MaxEnumeratedWindow} get their prefixes only" : "")})");
        }
        var byPhase = Enumerable.Range(0, n + 1).GroupBy(recording.PhaseAt).ToDictionary(g => g.Key, g => g.ToArray());
        var phaseNames = byPhase.Keys.OrderBy(Phases.Order).ToArray();
        for (int i = 0; i < options.Cuts; i++)
        {
            var random = new Random(unchecked(options.Seed * 1_000_003 + i));
            // Half the cuts uniform over the operations, half spread evenly over the phases so short ones get theirs.
            int cut = i % 2 == 0 ? random.Next(n + 1) : byPhase[phaseNames[random.Next(phaseNames.Length)]] is var ks ? ks[random.Next(ks.Length)] : 0;
            jobs.Add(new Job(cut, options.Torn ? Mode.RandomTorn : Mode.Random, random.Next(), null));
        }
        report.Notes.Add($"random: {options.Cuts} cuts at a random operation (half uniform, half per phase), keeping a random subset of the unflushed {(options.Torn ? "512-byte sectors" : "writes")}");

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism > 0 ? options.Parallelism : Environment.ProcessorCount };
        int done = 0;
        Parallel.ForEach(jobs, parallel, job =>
        {
            var (state, origin, phase) = Build(recording, job);
            report.Add(CrashChecker.Check(state, phase, origin));
            if (Interlocked.Increment(ref done) % 1000 == 0) log?.WriteLine($"  {done}/{jobs.Count} states checked");
        });
        report.Elapsed = clock.Elapsed;
        return report;
    }

    private enum Mode { Explicit, Random, RandomTorn }

    /// <param name="Cut">Operations issued before the cut.</param>
    /// <param name="Kept">For <see cref="Mode.Explicit"/>: the indices of the unflushed writes that reached the disk.</param>
    private sealed record Job(int Cut, Mode Mode, int Seed, HashSet<int>? Kept);

    /// <summary>
    /// The disk after a cut that came after <c>job.Cut</c> operations: the original image, every write before the last
    /// flush, then the unflushed writes the job keeps, in issue order.
    /// </summary>
    private static (byte[] State, string Origin, string Phase) Build(ScenarioRecording recording, Job job)
    {
        var state = recording.BaseImage.ToArray();
        int durable = recording.DurableEnd(job.Cut);
        for (int i = 0; i < durable; i++)
            Apply(state, recording.Ops[i], 0, recording.Ops[i].Data?.Length ?? 0);

        var random = new Random(job.Seed);
        var kept = new List<string>();
        int pending = 0, lastKept = -1;
        for (int i = durable; i < job.Cut; i++)
        {
            var op = recording.Ops[i];
            if (op.IsBarrier) continue;
            pending++;
            if (job.Mode == Mode.RandomTorn)
            {
                int sectors = 0, total = (op.Data!.Length + 511) / 512;
                for (int s = 0; s < total; s++)
                {
                    if (random.Next(2) != 0) continue;
                    Apply(state, op, s * 512, Math.Min(512, op.Data.Length - s * 512));
                    sectors++;
                }
                if (sectors > 0)
                {
                    kept.Add(sectors == total ? $"#{i}" : $"#{i}({sectors}/{total} sectors)");
                    lastKept = i;
                }
            }
            else if (job.Mode == Mode.Random ? random.Next(2) == 0 : job.Kept!.Contains(i))
            {
                Apply(state, op, 0, op.Data!.Length);
                kept.Add($"#{i}");
                lastKept = i;
            }
        }
        // The phase: where the last write that made it was issued (for an explicit subset), else where the cut came.
        var phase = job.Mode == Mode.Explicit && lastKept >= 0 ? recording.PhaseAt(lastKept + 1) : recording.PhaseAt(job.Cut);
        var origin = string.Create(CultureInfo.InvariantCulture,
            $"replay cut after op {job.Cut}/{recording.Ops.Count} (durable up to op {durable}; {pending} unflushed writes: {Describe(recording, durable, job.Cut)}; kept [{string.Join(" ", kept)}])");
        return (state, origin, phase);
    }

    private static string Describe(ScenarioRecording recording, int from, int to)
    {
        var ops = Enumerable.Range(from, to - from).Where(i => !recording.Ops[i].IsBarrier).ToList();
        var shown = ops.Take(12).Select(i => $"#{i} {recording.Ops[i].Data!.Length}B@{recording.Ops[i].Offset} ({recording.Ops[i].Phase})");
        return string.Join(" ", shown) + (ops.Count > 12 ? $" ... ({ops.Count - 12} more)" : "");
    }

    private static void Apply(byte[] state, DiskOp op, int from, int length)
    {
        if (op.IsBarrier || length <= 0) return;
        op.Data.AsSpan(from, length).CopyTo(state.AsSpan((int)op.Offset + from));
    }
}
