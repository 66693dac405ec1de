using System.Diagnostics;
using System.Globalization;

namespace Outpost.PowerCut;

/// <summary>How to start this program as a child: a host (dotnet) and the arguments before ours (the dll).</summary>
public sealed record ChildCommand(string FileName, IReadOnlyList<string> Prefix)
{
    /// <summary>This assembly under the dotnet host that runs us (or the one on PATH).</summary>
    public static ChildCommand ThisProgram()
    {
        var dll = typeof(KillHarness).Assembly.Location;
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(host) || !File.Exists(host))
        {
            var process = Environment.ProcessPath;
            host = process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet" ? process : "dotnet";
        }
        return new ChildCommand(host, [dll]);
    }
}

/// <param name="Cuts">How many times to start the update in a child and SIGKILL it.</param>
/// <param name="Parallelism">Children run at once; 0 = half the processors (the parent spins while it times a kill).</param>
public sealed record KillOptions(int Cuts = 100, int Seed = 1, int Parallelism = 0, int EspMiB = DiskScenario.DefaultEspMiB, string? WorkDirectory = null, ChildCommand? Child = null);

/// <summary>
/// The process half of the harness: the real update code runs in a child (<c>run DISK</c>) on a disk image file and
/// is SIGKILLed at a random point; the file, as the page cache holds it, is then judged by <see cref="CrashChecker"/>.
/// A third of the kills come at a delay uniform over the child's whole run (measured first); the rest wait for the
/// child to announce a phase that writes and kill it a random time into that phase's measured length, so that every
/// phase, however short, gets its cuts. The phase a cut landed in is the last one the child printed.
/// </summary>
public static class KillHarness
{
    private const int CalibrationRuns = 3;

    public static async Task<PowerCutReport> RunAsync(KillOptions options, TextWriter? log = null)
    {
        var clock = Stopwatch.StartNew();
        var child = options.Child ?? ChildCommand.ThisProgram();
        var work = options.WorkDirectory ?? Directory.CreateTempSubdirectory("outpost-powercut-").FullName;
        var ownsWork = options.WorkDirectory is null;
        var report = new PowerCutReport("kill");
        try
        {
            var original = DiskScenario.BuildDisk(options.EspMiB);

            // Calibration: full runs, to know how long the child and each of its phases take.
            var runs = new List<IReadOnlyDictionary<string, double>>();
            for (int i = 0; i < CalibrationRuns; i++)
            {
                var path = Path.Combine(work, "calibrate.img");
                await File.WriteAllBytesAsync(path, original).ConfigureAwait(false);
                using var run = ChildRun.Start(child, path);
                var (exit, stderr) = run.Finish();
                if (exit != 0 || !run.Seen(Phases.Done))
                    throw new InvalidOperationException($"The scenario fails when nothing cuts it (exit {exit}): {stderr}");
                if (CrashChecker.Check(await File.ReadAllBytesAsync(path).ConfigureAwait(false), Phases.Done) is { Ok: false } uncut)
                    throw new InvalidOperationException($"The uncut scenario leaves a disk that fails the check: {uncut.Detail}");
                runs.Add(run.Timeline());
            }
            var timeline = Phases.All.Append("exit").ToDictionary(p => p, p => Median(runs.Select(r => r.GetValueOrDefault(p, double.NaN))));
            double total = timeline["exit"];
            var durations = Phases.All.ToDictionary(p => p, p =>
            {
                var next = Phases.All.Append("exit").SkipWhile(q => q != p).Skip(1).FirstOrDefault(q => !double.IsNaN(timeline[q]));
                return next is null || double.IsNaN(timeline[p]) ? 0 : Math.Max(0, timeline[next] - timeline[p]);
            });
            report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"an uncut child runs {total:0.0} ms; phases start at (ms): {string.Join(", ", Phases.All.Where(p => !double.IsNaN(timeline[p])).Select(p => $"{p} {timeline[p]:0.00} (+{durations[p]:0.00})"))}"));

            int parallel = options.Parallelism > 0 ? options.Parallelism : Math.Max(1, Environment.ProcessorCount / 2);
            int next = -1, checkedCount = 0;
            var workers = Enumerable.Range(0, parallel).Select(worker => Task.Run(() =>
            {
                var path = Path.Combine(work, $"disk-{worker}.img");
                for (int i; (i = Interlocked.Increment(ref next)) < options.Cuts;)
                {
                    var random = new Random(unchecked(options.Seed * 1_000_003 + i));
                    File.WriteAllBytes(path, original);
                    string plan;
                    string phase;
                    using (var run = ChildRun.Start(child, path))
                    {
                        if (i % 3 == 0)
                        {
                            var at = random.NextDouble() * total;
                            plan = string.Create(CultureInfo.InvariantCulture, $"kill {at:0.000} ms after start");
                            run.KillAt(at);
                        }
                        else
                        {
                            var target = Phases.Writing[random.Next(Phases.Writing.Count)];
                            var into = random.NextDouble() * durations[target];
                            plan = string.Create(CultureInfo.InvariantCulture, $"kill {into * 1000:0} µs into {target}");
                            run.KillInto(target, into);
                        }
                        var (exit, stderr) = run.Finish();
                        phase = run.LastPhase;
                        if (exit == 0 && run.Seen(Phases.Done))
                        {
                            phase = Phases.Done;
                        }
                        else if (!run.Killed)
                        {
                            report.Add(new CutResult(phase, false, false, false, true, $"the child failed on its own (exit {exit}): {stderr}", $"kill #{i}: {plan}"));
                            continue;
                        }
                    }
                    report.Add(CrashChecker.Check(File.ReadAllBytes(path), phase, $"kill #{i}: {plan}, last phase printed {phase}"));
                    if (Interlocked.Increment(ref checkedCount) % 100 == 0) log?.WriteLine($"  {checkedCount}/{options.Cuts} kills checked");
                }
            })).ToArray();
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        finally
        {
            if (ownsWork) Directory.Delete(work, recursive: true);
        }
        report.Elapsed = clock.Elapsed;
        return report;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    /// <summary>One child process running the scenario, with the time (ms after its start) each phase line arrived.</summary>
    private sealed class ChildRun : IDisposable
    {
        private readonly Process _process;
        private readonly Stopwatch _clock;
        private readonly Thread _reader;
        private readonly Task<string> _stderr;
        private readonly Dictionary<string, double> _seen = [];
        private readonly object _gate = new();
        private readonly ManualResetEventSlim _targetSeen = new();
        private volatile string _last = Phases.Start;
        private volatile string? _target;
        private volatile bool _eof;

        private ChildRun(Process process, Stopwatch clock)
        {
            _process = process;
            _clock = clock;
            _stderr = process.StandardError.ReadToEndAsync();
            _reader = new Thread(ReadPhases) { IsBackground = true, Name = "powercut-child-stdout" };
            _reader.Start();
        }

        public bool Killed { get; private set; }

        public string LastPhase => _last;

        public static ChildRun Start(ChildCommand command, string disk)
        {
            var start = new ProcessStartInfo(command.FileName)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in command.Prefix) start.ArgumentList.Add(argument);
            start.ArgumentList.Add("run");
            start.ArgumentList.Add(disk);
            var clock = Stopwatch.StartNew();
            return new ChildRun(Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {command.FileName}."), clock);
        }

        public bool Seen(string phase)
        {
            lock (_gate) return _seen.ContainsKey(phase);
        }

        public IReadOnlyDictionary<string, double> Timeline()
        {
            lock (_gate) return new Dictionary<string, double>(_seen);
        }

        /// <summary>SIGKILL at <paramref name="ms"/> after the start (or never, when the child is done first).</summary>
        public void KillAt(double ms)
        {
            var remaining = ms - _clock.Elapsed.TotalMilliseconds;
            if (remaining > 3) Thread.Sleep(TimeSpan.FromMilliseconds(remaining - 2));
            SpinUntil(() => _clock.Elapsed.TotalMilliseconds >= ms);
            Kill();
        }

        /// <summary>SIGKILL <paramref name="ms"/> after the child announced <paramref name="phase"/>.</summary>
        public void KillInto(string phase, double ms)
        {
            // Block (not spin: the child needs the processor to get there) until the reader sees the phase line.
            _target = phase;
            if (!Seen(phase) && !_eof) _targetSeen.Wait();
            double at;
            lock (_gate)
                if (!_seen.TryGetValue(phase, out at)) return;
            SpinUntil(() => _clock.Elapsed.TotalMilliseconds >= at + ms);
            Kill();
        }

        public (int Exit, string Stderr) Finish()
        {
            _process.WaitForExit();
            _reader.Join();
            return (_process.ExitCode, _stderr.GetAwaiter().GetResult());
        }

        public void Dispose()
        {
            _process.Dispose();
            _targetSeen.Dispose();
        }

        private void Kill()
        {
            if (_eof) return;
            try
            {
                _process.Kill(); // SIGKILL on Unix
                Killed = true;
            }
            catch (InvalidOperationException)
            {
                // It had exited already.
            }
        }

        private void SpinUntil(Func<bool> condition)
        {
            var spin = new SpinWait();
            while (!condition() && !_eof) spin.SpinOnce(sleep1Threshold: -1);
        }

        private void ReadPhases()
        {
            string? line;
            while ((line = _process.StandardOutput.ReadLine()) is not null)
            {
                if (!line.StartsWith("phase ", StringComparison.Ordinal)) continue;
                var phase = line["phase ".Length..].Trim();
                lock (_gate) _seen.TryAdd(phase, _clock.Elapsed.TotalMilliseconds);
                _last = phase;
                if (phase == _target) _targetSeen.Set();
            }
            lock (_gate) _seen.TryAdd("exit", _clock.Elapsed.TotalMilliseconds);
            _eof = true;
            _targetSeen.Set();
        }
    }
}
