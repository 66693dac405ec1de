using System.Runtime.CompilerServices;

// The workload tests check parsers and the console log directly, without a container around them.
[assembly: InternalsVisibleTo("Outpost.Agent.Tests")]
